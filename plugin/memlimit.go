package main

import (
	"os"
	"runtime/debug"

	"github.com/s3vol/s3vol/internal/bufpool"
)

// applyMemoryLimit sets the Go runtime's soft memory limit to the data
// budget plus bufpool.RuntimeMargin, so the process's memory stays near
// S3VOL_MEMORY whatever the file sizes; a GOMEMLIMIT set in the environment
// wins. It returns the limit in force.
func applyMemoryLimit(budget int64) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1) // -1 reads the limit without changing it
	}
	limit := budget + bufpool.RuntimeMargin
	debug.SetMemoryLimit(limit)
	return limit
}
