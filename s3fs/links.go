package s3fs

// Link counts. Objects cannot be hard linked, so a file has one link, and
// none once unlinked while still open. A directory has 2 + its
// subdirectories (each one's ".." links it), counted from its listing when
// it has one (however old: counting must not cost a LIST per stat), else
// from the subdirectories this mount knows.

// nlink is d's link count.
func (d *dirNode) nlink() uint32 {
	d.mu.Lock()
	l := d.listing
	subdirs := 0
	if l != nil {
		for _, e := range l.entries {
			if e.kind == kindDir {
				subdirs++
			}
		}
	}
	d.mu.Unlock()
	if l == nil {
		for _, ch := range d.Children() {
			if _, ok := ch.Operations().(*dirNode); ok {
				subdirs++
			}
		}
	}
	return uint32(2 + subdirs)
}

// nlink is n's link count: 0 once unlinked.
func (n *fileNode) nlink() uint32 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.unlinked {
		return 0
	}
	return 1
}
