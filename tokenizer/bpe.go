package tokenizer

import "unicode/utf8"

// bpe is the model: a vocabulary and ranked merges.
type bpe struct {
	vocab  map[string]int // token (byte-level characters) -> id, as in the file
	tokens []string       // id -> token; valid where has is set
	has    []bool

	merges map[uint64]merge // pair of ids -> rank and result

	// lookup is what encoding searches: raw bytes -> id in byte-level
	// mode (pieces stay raw, so they need no mapping), vocab otherwise.
	lookup map[string]int
	byteID [256]int32 // byte-level: id of each byte's character, -1 if absent

	byteLevel    bool
	ignoreMerges bool // a piece found whole in the vocabulary is one token
	unk          int  // id of unk_token, -1 when there is none
	fuseUnk      bool
}

// index builds the tables encoding searches, once the mode is known.
func (m *bpe) index() {
	if !m.byteLevel {
		m.lookup = m.vocab
		return
	}
	m.lookup = make(map[string]int, len(m.vocab))
	var buf []byte
	for tok, id := range m.vocab {
		var ok bool
		if buf, ok = unmapBytes(buf[:0], tok); ok {
			if old, dup := m.lookup[string(buf)]; !dup || id < old {
				m.lookup[string(buf)] = id
			}
		}
	}
	for b := range m.byteID {
		m.byteID[b] = -1
		if id, ok := m.vocab[string(byteChar[b])]; ok {
			m.byteID[b] = int32(id)
		}
	}
}

type merge struct {
	rank, id int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// symbol is a token of a word being merged, linked to its neighbours.
type symbol struct {
	id         int32
	prev, next int32
	len        int32 // bytes covered; 0 once merged into its left neighbour
}

// candidate is a possible merge of the symbol at pos with its right
// neighbour.
type candidate struct {
	pos, rank, id int32
}

// cacheMax bounds each scratch's piece cache, and cacheLen the pieces it
// keeps, as tokenizers' BPE cache does (10000 entries, words under 256 bytes).
const (
	cacheMax = 10000
	cacheLen = 256
)

// encode appends the ids of one pre-token. This is the hot path.
func (m *bpe) encode(dst []int, piece string, sc *scratch) []int {
	if piece == "" {
		return dst
	}
	if m.ignoreMerges {
		if id, ok := m.lookup[piece]; ok {
			return append(dst, id)
		}
	}
	if ids, ok := sc.cache[piece]; ok {
		return append(dst, ids...)
	}
	start := len(dst)
	dst = m.merge(dst, piece, sc)
	if len(piece) < cacheLen && len(sc.cache) < cacheMax {
		sc.cache[string([]byte(piece))] = append([]int(nil), dst[start:]...)
	}
	return dst
}

// merge splits piece into characters (bytes in byte-level mode) and
// applies merges lowest rank first, leftmost first among equal ranks, with
// the same priority queue tokenizers' Word::merge_all uses, so that even
// ties between stale and fresh queue entries resolve the same way.
func (m *bpe) merge(dst []int, piece string, sc *scratch) []int {
	syms := sc.syms[:0]
	unk, unkLen := int32(-1), int32(0)
	add := func(id, n int32) {
		syms = append(syms, symbol{id: id, prev: int32(len(syms)) - 1, next: int32(len(syms)) + 1, len: n})
	}
	for i := 0; i < len(piece); {
		var id int32 = -1
		w := 1
		if m.byteLevel {
			id = m.byteID[piece[i]]
		} else {
			_, w = utf8.DecodeRuneInString(piece[i:])
			if v, ok := m.lookup[piece[i:i+w]]; ok {
				id = int32(v)
			}
		}
		switch {
		case id >= 0:
			if unk >= 0 {
				add(unk, unkLen)
				unk = -1
			}
			add(id, int32(w))
		case m.unk >= 0:
			// Unknown characters become unk, runs of them fused into one
			// when fuse_unk is set; without unk_token they are dropped.
			if unk >= 0 && m.fuseUnk {
				unkLen += int32(w)
			} else {
				if unk >= 0 {
					add(unk, unkLen)
				}
				unk, unkLen = int32(m.unk), int32(w)
			}
		}
		i += w
	}
	if unk >= 0 {
		add(unk, unkLen)
	}
	if len(syms) > 0 {
		syms[len(syms)-1].next = -1
	}

	q := sc.queue[:0]
	for i := 0; i+1 < len(syms); i++ {
		if mg, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			q = push(q, candidate{pos: int32(i), rank: mg.rank, id: mg.id})
		}
	}
	for len(q) > 0 {
		var top candidate
		top, q = pop(q)
		cur := &syms[top.pos]
		if cur.len == 0 || cur.next == -1 {
			continue
		}
		right := syms[cur.next]
		// Skip entries made stale by an earlier merge.
		if mg, ok := m.merges[pairKey(cur.id, right.id)]; !ok || mg.id != top.id {
			continue
		}
		next := cur.next
		cur.id = top.id
		cur.len += right.len
		cur.next = right.next
		syms[next].len = 0
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if mg, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				q = push(q, candidate{pos: cur.prev, rank: mg.rank, id: mg.id})
			}
		}
		if cur.next >= 0 {
			if mg, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				q = push(q, candidate{pos: top.pos, rank: mg.rank, id: mg.id})
			}
		}
	}
	for _, s := range syms {
		if s.len != 0 {
			dst = append(dst, int(s.id))
		}
	}
	sc.syms, sc.queue = syms, q
	return dst
}

// less orders the queue: lowest rank, then leftmost position.
func less(a, b candidate) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.pos < b.pos
}

func push(q []candidate, c candidate) []candidate {
	q = append(q, c)
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !less(q[i], q[p]) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
	return q
}

func pop(q []candidate) (candidate, []candidate) {
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	for i := 0; ; {
		l, r, min := 2*i+1, 2*i+2, i
		if l < n && less(q[l], q[min]) {
			min = l
		}
		if r < n && less(q[r], q[min]) {
			min = r
		}
		if min == i {
			break
		}
		q[i], q[min] = q[min], q[i]
		i = min
	}
	return top, q
}
