package recipients

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// knownEncodings is what an unknown name's error suggests; far more names
// work (every WHATWG label and IANA name golang.org/x/text supports).
const knownEncodings = `utf-8, gbk, gb18030, big5, shift_jis, euc-kr, windows-1252, iso-8859-1, utf-16`

// lookupEncoding returns the encoding called name, or nil for UTF-8, which is
// read as is (and checked) rather than decoded, so that invalid bytes are
// reported instead of silently turned into U+FFFD.
func lookupEncoding(name string) (encoding.Encoding, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "", "utf-8", "utf8":
		return nil, nil
	}
	// WHATWG labels first: they are what spreadsheets and browsers write
	// ("sjis", "shift-jis", "latin1", "gb2312", "cp1252" ...).
	enc, err := htmlindex.Get(n)
	if err != nil {
		// IANA names and aliases cover the rest; ianaindex reports names it
		// knows but cannot decode as a nil Encoding.
		enc, err = ianaindex.IANA.Encoding(n)
	}
	if err != nil || enc == nil || enc == encoding.Replacement {
		return nil, problemf(ErrEncoding, "unknown encoding %q (known: %s)", name, knownEncodings)
	}
	if canonical, _ := htmlindex.Name(enc); canonical == "utf-8" {
		return nil, nil
	}
	return enc, nil
}

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// takeBOM consumes a byte order mark at the start of br and returns the
// encoding it declares. A BOM outranks the configured encoding, as in
// browsers: Excel's "CSV UTF-8" and "Unicode Text" exports always carry one,
// and no legacy-encoded list starts with these bytes. found is false when
// there is no BOM; enc is nil for UTF-8.
func takeBOM(br *bufio.Reader) (enc encoding.Encoding, found bool, err error) {
	head, err := br.Peek(3)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	switch {
	case bytes.HasPrefix(head, bomUTF8):
		_, err = br.Discard(len(bomUTF8))
		return nil, true, err
	case bytes.HasPrefix(head, bomUTF16LE):
		_, err = br.Discard(len(bomUTF16LE))
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), true, err
	case bytes.HasPrefix(head, bomUTF16BE):
		_, err = br.Discard(len(bomUTF16BE))
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), true, err
	}
	return nil, false, nil
}

// encodingHint is the hint for text that is not valid UTF-8: it names the
// encoding the bytes most likely are in first.
func encodingHint(raw string) string {
	if looksLikeGBK(raw) {
		return `the file may be in another encoding; set encoding = "gbk" (Chinese Excel), "windows-1252" (Western Excel) or the right one in the campaign`
	}
	return `the file may be in another encoding; set encoding = "windows-1252" (Western Excel), "gbk" (Chinese Excel) or the right one in the campaign`
}

// looksLikeGBK reports whether every non-ASCII byte of s pairs up as a GBK
// character and most pairs fall in the GB2312 area (trail byte 0xA1 and up),
// where nearly all Chinese text lies. The second test keeps Latin text such
// as "M\xfcller" (which also pairs up, as FC 6C) from being taken for Chinese.
func looksLikeGBK(s string) bool {
	pairs, gb2312 := 0, 0
	for i := 0; i < len(s); i++ {
		lead := s[i]
		if lead < 0x80 {
			continue
		}
		if lead == 0x80 || lead == 0xFF || i+1 >= len(s) {
			return false
		}
		trail := s[i+1]
		if trail < 0x40 || trail == 0x7F || trail == 0xFF {
			return false
		}
		pairs++
		if trail >= 0xA1 {
			gb2312++
		}
		i++
	}
	return pairs > 0 && 2*gb2312 >= pairs
}

// CheckEncoding reports whether name is an encoding Open can read, so a
// campaign can reject a misspelt one on its own line before opening the list.
func CheckEncoding(name string) error {
	_, err := lookupEncoding(name)
	return err
}
