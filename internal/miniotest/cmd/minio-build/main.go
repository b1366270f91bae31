// Command minio-build makes sure the MinIO binary the test harness uses is
// built (see internal/miniotest), so CI can build it before the tests run.
// It prints the binary's path.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/s3vol/s3vol/internal/miniotest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bin, err := miniotest.EnsureBinary(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "minio-build:", err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
