package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// byteChar is GPT-2's bytes_to_unicode: every byte gets a printable
// character, itself for the visible Latin-1 bytes and 256+n for the others
// in byte order, so that a BPE vocabulary over bytes can be stored as text.
var byteChar [256]rune

// charByte inverts byteChar; -1 for characters that stand for no byte.
var charByte [324]int16

func init() {
	for i := range charByte {
		charByte[i] = -1
	}
	n := rune(0)
	for b := 0; b < 256; b++ {
		if '!' <= b && b <= '~' || 0xa1 <= b && b <= 0xac || 0xae <= b && b <= 0xff {
			byteChar[b] = rune(b)
		} else {
			byteChar[b] = 256 + n
			n++
		}
		charByte[byteChar[b]] = int16(b)
	}
}

// unmapBytes turns a byte-level token back into the bytes it stands for;
// ok is false when a character of tok stands for no byte.
func unmapBytes(dst []byte, tok string) ([]byte, bool) {
	n := len(dst)
	for _, r := range tok {
		if r < 0 || int(r) >= len(charByte) || charByte[r] < 0 {
			return dst[:n], false
		}
		dst = append(dst, byte(charByte[r]))
	}
	return dst, true
}

// lossy converts b to a string as Rust's String::from_utf8_lossy does:
// each maximal ill-formed subsequence becomes one U+FFFD (the Unicode
// "substitution of maximal subparts" practice), which differs from Go's
// strings.ToValidUTF8 and from decoding byte by byte.
func lossy(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		r, w := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || w > 1 {
			sb.Write(b[i : i+w])
			i += w
			continue
		}
		sb.WriteRune(utf8.RuneError)
		i += maximalSubpart(b[i:])
	}
	return sb.String()
}

// maximalSubpart is the length of the longest prefix of b that starts a
// well-formed sequence (at least one byte); b does not start one fully.
func maximalSubpart(b []byte) int {
	need, lo, hi := 0, byte(0x80), byte(0xbf)
	switch c := b[0]; {
	case 0xc2 <= c && c <= 0xdf:
		need = 1
	case c == 0xe0:
		need, lo = 2, 0xa0
	case 0xe1 <= c && c <= 0xec, c == 0xee, c == 0xef:
		need = 2
	case c == 0xed:
		need, hi = 2, 0x9f
	case c == 0xf0:
		need, lo = 3, 0x90
	case 0xf1 <= c && c <= 0xf3:
		need = 3
	case c == 0xf4:
		need, hi = 3, 0x8f
	default:
		return 1
	}
	i := 1
	for k := 0; k < need && i < len(b); k++ {
		if x := b[i]; x < lo || x > hi {
			break
		}
		lo, hi = 0x80, 0xbf
		i++
	}
	return i
}
