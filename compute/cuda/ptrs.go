package cuda

import (
	"fmt"
	"unsafe"

	"dllmbench/internal/cuda"
)

// ptrTableEntries is how many sets of pointer arrays the table keeps: a
// LLaDA-8B step uses 64 (two batched products a layer), and each further
// row count of the gate and up products 32 more.
const ptrTableEntries = 1024

// ptrSet is the pointer arrays of one batched product of three problems:
// a (weights), b (inputs) and c (outputs), three each, as cuBLAS reads them.
type ptrSet [9]cuda.DevPtr

// ptrTable keeps the pointer arrays of batched cuBLAS products in device
// memory, one entry per distinct set, written once: a set's first call
// queues its upload (a call that Record captures, when the capture ends),
// and later calls and every replay of a graph read the entry, with no
// set_ptrs3 kernel in front of the product (about 1.8 µs each, two a
// LLaDA layer). Entries are never rewritten while a graph may read them:
// a full table is cleared only outside Record with no graph alive, and
// until then calls fall back to set_ptrs3.
type ptrTable struct {
	buf   buffer
	host  []ptrSet       // the entries, as uploaded or to be
	index map[ptrSet]int // entry of each set
	sent  int            // entries uploaded
	cap   int            // entries the buffer holds (tests lower it)
}

// newPtrTable allocates the table's device memory.
func (b *Backend) newPtrTable() error {
	buf, err := b.alloc(ptrTableEntries * int64(unsafe.Sizeof(ptrSet{})))
	if err != nil {
		return fmt.Errorf("cuda: pointer table: %w", err)
	}
	b.ptrs = ptrTable{buf: buf, host: make([]ptrSet, 0, ptrTableEntries), index: map[ptrSet]int{}, cap: ptrTableEntries}
	return nil
}

// ptrLookup returns the device address of set's entry, adding it if new, or 0
// when the table is full.
func (b *Backend) ptrLookup(set ptrSet) cuda.DevPtr {
	t := &b.ptrs
	i, ok := t.index[set]
	if !ok {
		if len(t.host) >= t.cap {
			if b.recording || b.graphs > 0 {
				return 0
			}
			// No graph can read an entry: start over. The uploads are
			// queued on the stream, behind every product that read the
			// old entries.
			t.host, t.sent = t.host[:0], 0
			clear(t.index)
		}
		i = len(t.host)
		t.host = append(t.host, set)
		t.index[set] = i
	}
	if !b.recording {
		b.ptrFlush()
	}
	return t.buf.ptr + cuda.DevPtr(i)*cuda.DevPtr(unsafe.Sizeof(ptrSet{}))
}

// ptrFlush queues the upload of the entries not yet sent. From pageable
// memory the copy is staged before the call returns, so the host entries
// may change after.
func (b *Backend) ptrFlush() {
	t := &b.ptrs
	if t.sent == len(t.host) {
		return
	}
	size := int64(unsafe.Sizeof(ptrSet{}))
	src := t.host[t.sent:]
	b.pin.Pin(&src[0])
	err := cuda.MemcpyHtoDAsync(t.buf.ptr+cuda.DevPtr(int64(t.sent)*size), unsafe.Pointer(&src[0]), int64(len(src))*size, b.stream)
	b.pin.Unpin()
	if err != nil {
		b.fail(fmt.Errorf("cuda: uploading pointer arrays: %w", err))
		return
	}
	t.sent = len(t.host)
}
