package recipients

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"

	"github.com/mailmerge/mailmerge/internal/human"
)

// encode returns s in enc, as a spreadsheet in that locale would save it.
func encode(enc encoding.Encoding, s string) string {
	out, err := enc.NewEncoder().String(s)
	if err != nil {
		panic(fmt.Sprintf("test data %q is not encodable: %v", s, err))
	}
	return out
}

// describe puts a recipient on one line, cells in column order.
func describe(columns []string, rec Recipient) string {
	cells := make([]string, len(columns))
	for i, c := range columns {
		cells[i] = fmt.Sprintf("%s=%q", c, rec.Fields[c])
	}
	return fmt.Sprintf("row %d line %d: %s", rec.Row, rec.Line, strings.Join(cells, " "))
}

// readAll reads the whole list the way `check` does, going on after bad
// rows, and gives one line per recipient or error, and every error's hint.
func readAll(t *testing.T, r *Reader) (got, hints []string) {
	t.Helper()
	for range 10000 {
		rec, err := r.Next()
		if err == io.EOF {
			return got, hints
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Next: %v (%T) is not an *Error", err, err)
			}
			got = append(got, "error: "+err.Error())
			hints = append(hints, e.Help)
			if e.Row == 0 {
				// Not about one row: nothing follows but the same error or io.EOF.
				if _, again := r.Next(); again != io.EOF && again != err {
					t.Fatalf("Next after %q: %v", err, again)
				}
				return got, hints
			}
			continue
		}
		if len(rec.Fields) != len(r.Columns()) {
			t.Errorf("row %d has %d fields, want one per column %q", rec.Row, len(rec.Fields), r.Columns())
		}
		got = append(got, describe(r.Columns(), rec))
	}
	t.Fatal("Next never returned io.EOF")
	return nil, nil
}

func TestReader(t *testing.T) {
	gbk := simplifiedchinese.GBK
	cp1252 := charmap.Windows1252

	manyColumns := make([]string, 10000) // a header longer than the detection buffer
	manyCells := make([]string, len(manyColumns))
	for i := range manyColumns {
		manyColumns[i] = fmt.Sprintf("col%05d", i)
		manyCells[i] = fmt.Sprint(i)
	}

	tests := []struct {
		name      string
		data      string
		opts      Options
		columns   []string
		delimiter rune
		want      []string
		hint      string // every error's hint contains this
	}{
		{
			name:    "utf-8 with BOM",
			data:    "\xEF\xBB\xBFname,email\nAnn,ann@example.com\n",
			columns: []string{"name", "email"},
			want:    []string{`row 1 line 2: name="Ann" email="ann@example.com"`},
		},
		{
			name:      "semicolon detected",
			data:      "name;email;city\nMüller;m@example.com;\"Köln; Deutz\"\n",
			columns:   []string{"name", "email", "city"},
			delimiter: ';',
			want:      []string{`row 1 line 2: name="Müller" email="m@example.com" city="Köln; Deutz"`},
		},
		{
			name:      "tab detected",
			data:      "name\temail\nAnn, Lee\tann@example.com\n",
			columns:   []string{"name", "email"},
			delimiter: '\t',
			want:      []string{`row 1 line 2: name="Ann, Lee" email="ann@example.com"`},
		},
		{
			name:    "delimiters inside a quoted header name do not count",
			data:    "\"a;b;c\",d\n1,2\n",
			columns: []string{"a;b;c", "d"},
			want:    []string{`row 1 line 2: a;b;c="1" d="2"`},
		},
		{
			name:    "a tie goes to the comma",
			data:    "a,b;c\n1,2;3\n",
			columns: []string{"a", "b;c"},
			want:    []string{`row 1 line 2: a="1" b;c="2;3"`},
		},
		{
			name:      "explicit delimiter",
			data:      "a,b;c\n1,2;3\n",
			opts:      Options{Delimiter: ';'},
			columns:   []string{"a,b", "c"},
			delimiter: ';',
			want:      []string{`row 1 line 2: a,b="1,2" c="3"`},
		},
		{
			name:    "one column",
			data:    "email\nann@example.com\n",
			columns: []string{"email"},
			want:    []string{`row 1 line 2: email="ann@example.com"`},
		},
		{
			name:      "header longer than the detection buffer",
			data:      strings.Join(manyColumns, ";") + "\n" + strings.Join(manyCells, ";") + "\n",
			columns:   manyColumns,
			delimiter: ';',
			want:      []string{describe(manyColumns, Recipient{Row: 1, Line: 2, Fields: fieldsOf(manyColumns, manyCells)})},
		},
		{
			name:    "header names keep their spelling, surrounding space trimmed",
			data:    " First Name ,\tLast Name\u3000,E-Mail\nAnn,Lee,ann@example.com\n",
			columns: []string{"First Name", "Last Name", "E-Mail"},
			want:    []string{`row 1 line 2: First Name="Ann" Last Name="Lee" E-Mail="ann@example.com"`},
		},
		{
			name:    "cells are not trimmed and empty cells are present",
			data:    "name,email,city\n Ann ,ann@example.com,\n",
			columns: []string{"name", "email", "city"},
			want:    []string{`row 1 line 2: name=" Ann " email="ann@example.com" city=""`},
		},
		{
			name:    "gbk",
			data:    encode(gbk, "姓名,邮箱\n张三,zhang@example.com\n李四,li@example.com\n"),
			opts:    Options{Encoding: "gbk"},
			columns: []string{"姓名", "邮箱"},
			want: []string{
				`row 1 line 2: 姓名="张三" 邮箱="zhang@example.com"`,
				`row 2 line 3: 姓名="李四" 邮箱="li@example.com"`,
			},
		},
		{
			name:    "gb18030",
			data:    encode(simplifiedchinese.GB18030, "姓名\n娜美\n"),
			opts:    Options{Encoding: "GB18030"},
			columns: []string{"姓名"},
			want:    []string{`row 1 line 2: 姓名="娜美"`},
		},
		{
			name:    "gbk read as utf-8",
			data:    "name,email\nAnn,ann@example.com\n" + encode(gbk, "张三,zhang@example.com\n") + "Bob,bob@example.com\n",
			columns: []string{"name", "email"},
			want: []string{
				`row 1 line 2: name="Ann" email="ann@example.com"`,
				`error: recipients.csv: line 3, column "name": not valid UTF-8`,
				`row 3 line 4: name="Bob" email="bob@example.com"`,
			},
			hint: `set encoding = "gbk" (Chinese Excel), "windows-1252"`,
		},
		{
			name:    "windows-1252 read as utf-8",
			data:    encode(cp1252, "name,city\nMüller,Köln\n"),
			columns: []string{"name", "city"},
			want:    []string{`error: recipients.csv: line 2, column "name": not valid UTF-8`},
			hint:    `set encoding = "windows-1252" (Western Excel), "gbk"`,
		},
		{
			name:    "windows-1252",
			data:    encode(cp1252, "name,city,fee\nMüller,Köln,€5\n"),
			opts:    Options{Encoding: "windows-1252"},
			columns: []string{"name", "city", "fee"},
			want:    []string{`row 1 line 2: name="Müller" city="Köln" fee="€5"`},
		},
		{
			name:    "iso-8859-1",
			data:    encode(charmap.ISO8859_1, "name\nJosé\n"),
			opts:    Options{Encoding: "ISO-8859-1"},
			columns: []string{"name"},
			want:    []string{`row 1 line 2: name="José"`},
		},
		{
			name:    "big5",
			data:    encode(traditionalchinese.Big5, "姓名,城市\n王小明,臺北\n"),
			opts:    Options{Encoding: "Big5"},
			columns: []string{"姓名", "城市"},
			want:    []string{`row 1 line 2: 姓名="王小明" 城市="臺北"`},
		},
		{
			name:    "shift-jis",
			data:    encode(japanese.ShiftJIS, "名前,都市\n山田太郎,東京\n"),
			opts:    Options{Encoding: "Shift-JIS"},
			columns: []string{"名前", "都市"},
			want:    []string{`row 1 line 2: 名前="山田太郎" 都市="東京"`},
		},
		{
			name:    "sjis",
			data:    encode(japanese.ShiftJIS, "名前\n山田\n"),
			opts:    Options{Encoding: "sjis"},
			columns: []string{"名前"},
			want:    []string{`row 1 line 2: 名前="山田"`},
		},
		{
			name:    "euc-kr",
			data:    encode(korean.EUCKR, "이름\n김철수\n"),
			opts:    Options{Encoding: "euc-kr"},
			columns: []string{"이름"},
			want:    []string{`row 1 line 2: 이름="김철수"`},
		},
		{
			name:      "utf-16 with BOM, encoding unset (Excel Unicode Text)",
			data:      encode(unicode.UTF16(unicode.LittleEndian, unicode.UseBOM), "name\temail\r\n娜美\tnami@example.com\r\n"),
			columns:   []string{"name", "email"},
			delimiter: '\t',
			want:      []string{`row 1 line 2: name="娜美" email="nami@example.com"`},
		},
		{
			name:    "utf-16 big endian with BOM",
			data:    encode(unicode.UTF16(unicode.BigEndian, unicode.UseBOM), "name\n娜美\n"),
			opts:    Options{Encoding: "utf-16"},
			columns: []string{"name"},
			want:    []string{`row 1 line 2: name="娜美"`},
		},
		{
			name:    "a utf-8 BOM outranks the configured encoding",
			data:    "\xEF\xBB\xBF姓名\n张三\n",
			opts:    Options{Encoding: "gbk"},
			columns: []string{"姓名"},
			want:    []string{`row 1 line 2: 姓名="张三"`},
		},
		{
			name:    "more fields than columns, then reading goes on",
			data:    "name,email,city,code\nAnn,a@example.com,Paris,75\nBob,b@example.com,Lyon, 69, France\nCid,c@example.com,Nice,06\n",
			columns: []string{"name", "email", "city", "code"},
			want: []string{
				`row 1 line 2: name="Ann" email="a@example.com" city="Paris" code="75"`,
				`error: recipients.csv: line 3: 5 fields, but the header has 4 columns`,
				`row 3 line 4: name="Cid" email="c@example.com" city="Nice" code="06"`,
			},
			hint: `a field containing the delimiter "," must be quoted`,
		},
		{
			name:      "fewer fields than columns",
			data:      "name;email;city;code\nBob;b@example.com\nCid;c@example.com;Nice;06\n",
			columns:   []string{"name", "email", "city", "code"},
			delimiter: ';',
			want: []string{
				`error: recipients.csv: line 2: 2 fields, but the header has 4 columns`,
				`row 2 line 3: name="Cid" email="c@example.com" city="Nice" code="06"`,
			},
			hint: "check for a missing delimiter or a line break outside quotes",
		},
		{
			name:    "header only",
			data:    "name,email\n",
			columns: []string{"name", "email"},
			want:    []string{`error: recipients.csv: line 2: no data rows below the header`},
			hint:    "one row per recipient",
		},
		{
			name:    "header followed only by empty rows",
			data:    "\n\nname,email\r\n,\r\n\r\n",
			columns: []string{"name", "email"},
			want:    []string{`error: recipients.csv: line 4: no data rows below the header`},
			hint:    "one row per recipient",
		},
		{
			name:    "header spanning two lines, no rows",
			data:    "\"full\nname\",email\n",
			columns: []string{"full\nname", "email"},
			want:    []string{`error: recipients.csv: line 3: no data rows below the header`},
			hint:    "one row per recipient",
		},
		{
			name:    "line breaks inside quoted fields",
			data:    "name,note\r\nAnn,\"first line\r\nsecond line\r\nthird\"\r\nBob,plain\r\n\"Cid\",\"a \"\"quoted\"\" word\"\r\n",
			columns: []string{"name", "note"},
			want: []string{
				`row 1 line 2: name="Ann" note="first line\nsecond line\nthird"`,
				`row 2 line 5: name="Bob" note="plain"`,
				`row 3 line 6: name="Cid" note="a \"quoted\" word"`,
			},
		},
		{
			name:    "windows line ends",
			data:    "name,email\r\nAnn,a@example.com\r\nBob,b@example.com\r\n",
			columns: []string{"name", "email"},
			want: []string{
				`row 1 line 2: name="Ann" email="a@example.com"`,
				`row 2 line 3: name="Bob" email="b@example.com"`,
			},
		},
		{
			name:    "classic Mac line ends",
			data:    "name,note\rAnn,\"two\rlines\"\r\rBob,x\r",
			columns: []string{"name", "note"},
			want: []string{
				`row 1 line 2: name="Ann" note="two\nlines"`,
				`row 2 line 5: name="Bob" note="x"`,
			},
		},
		{
			name:    "a CR inside a quoted header cell is not a line end",
			data:    "\"a\rb\",c\r\n1,2\r\n",
			columns: []string{"a\rb", "c"},
			want:    []string{"row 1 line 2: a\rb=\"1\" c=\"2\""},
		},
		{
			name:    "empty rows are skipped and get no row number",
			data:    "\nname,email\nAnn,a@example.com\n,\n\n,\nBob,b@example.com\n,\n\n",
			columns: []string{"name", "email"},
			want: []string{
				`row 1 line 3: name="Ann" email="a@example.com"`,
				`row 2 line 7: name="Bob" email="b@example.com"`,
			},
		},
		{
			name:    "bare quote, then reading goes on",
			data:    "name,size\nTV,27\" screen\nRadio,small\n",
			columns: []string{"name", "size"},
			want: []string{
				`error: recipients.csv: line 2: a " inside a field that does not start with one`,
				`row 2 line 3: name="Radio" size="small"`,
			},
			hint: `put the whole field in double quotes`,
		},
		{
			name:    "text after a closing quote",
			data:    "name,size\n\"TV\" set,27\nRadio,small\n",
			columns: []string{"name", "size"},
			want: []string{
				`error: recipients.csv: line 2: text after the closing " of a quoted field`,
				`row 2 line 3: name="Radio" size="small"`,
			},
			hint: `write a " inside it as ""`,
		},
		{
			name:    "quote never closed",
			data:    "name,note\nAnn,ok\nBob,\"open\nCid,x\n",
			columns: []string{"name", "note"},
			want: []string{
				`row 1 line 2: name="Ann" note="ok"`,
				`error: recipients.csv: line 3, column "note": quoted field never closed`,
			},
			hint: `end the cell with a "`,
		},
		{
			name:    "quote opened on the last line never closed",
			data:    "name,note,email\nAnn,ok,a@example.com\nBob,\"open,b@example.com\n",
			columns: []string{"name", "note", "email"},
			want: []string{
				`row 1 line 2: name="Ann" note="ok" email="a@example.com"`,
				`error: recipients.csv: line 3, column "note": quoted field never closed`,
			},
			hint: `end the cell with a "`,
		},
		{
			name:    "quote never closed, no line end at the end of the file",
			data:    "name,note\r\nAnn,ok\r\nBob,\"open",
			columns: []string{"name", "note"},
			want: []string{
				`row 1 line 2: name="Ann" note="ok"`,
				`error: recipients.csv: line 3, column "note": quoted field never closed`,
			},
			hint: `end the cell with a "`,
		},
		{
			name:    "quote never closed after a cell with line breaks, blank lines at the end",
			data:    "name,note,email\r\n\"Ann\r\nSmith\",\"open\r\nmore\r\n\r\n\r\n",
			columns: []string{"name", "note", "email"},
			want: []string{
				`error: recipients.csv: line 3, column "note": quoted field never closed`,
			},
			hint: `end the cell with a "`,
		},
		{
			name:    "text after a closing quote on the last line",
			data:    "name,size\r\nRadio,small\r\nTV,\"27\" screen\r\n",
			columns: []string{"name", "size"},
			want: []string{
				`row 1 line 2: name="Radio" size="small"`,
				`error: recipients.csv: line 3: text after the closing " of a quoted field`,
			},
			hint: `write a " inside it as ""`,
		},
		{
			name:    "text after a closing quote at the very end",
			data:    "name,size\nTV,\"27\"x",
			columns: []string{"name", "size"},
			want:    []string{`error: recipients.csv: line 2: text after the closing " of a quoted field`},
			hint:    `write a " inside it as ""`,
		},
	}
	readers := map[string]func([]byte) io.Reader{
		"whole":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
	}
	for _, tt := range tests {
		for how, newStream := range readers {
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				r, err := NewReader("recipients.csv", newStream([]byte(tt.data)), tt.opts)
				if err != nil {
					t.Fatalf("NewReader: %v", err)
				}
				defer r.Close()
				if !equal(r.Columns(), tt.columns) {
					t.Errorf("Columns() = %q, want %q", r.Columns(), tt.columns)
				}
				wantDelimiter := tt.delimiter
				if wantDelimiter == 0 {
					wantDelimiter = ','
				}
				if r.Delimiter() != wantDelimiter {
					t.Errorf("Delimiter() = %q, want %q", r.Delimiter(), wantDelimiter)
				}
				got, hints := readAll(t, r)
				if !equal(got, tt.want) {
					t.Errorf("read:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
				for _, h := range hints {
					if tt.hint == "" || !strings.Contains(h, tt.hint) {
						t.Errorf("hint %q, want it to contain %q", h, tt.hint)
					}
				}
			})
		}
	}
}

func fieldsOf(columns, cells []string) map[string]string {
	m := make(map[string]string, len(columns))
	for i, c := range columns {
		m[c] = cells[i]
	}
	return m
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBadList covers the lists that cannot be read at all: NewReader refuses them.
func TestBadList(t *testing.T) {
	tests := []struct {
		name string
		data string
		opts Options
		want string // Error()
		is   error
		hint string // contained in the hint
	}{
		{
			name: "empty file",
			data: "",
			want: "recipients.csv: line 1: the file is empty",
			is:   ErrEmptyFile,
			hint: "the first line must name the columns",
		},
		{
			name: "only a BOM and blank lines",
			data: "\xEF\xBB\xBF\r\n\n",
			want: "recipients.csv: line 1: the file is empty",
			is:   ErrEmptyFile,
			hint: "the first line must name the columns",
		},
		{
			name: "empty column name",
			data: "name,,email\nAnn,,a@example.com\n",
			want: "recipients.csv: line 1: column 2 has no name",
			is:   ErrHeader,
			hint: "give every column a name",
		},
		{
			name: "blank column name",
			data: "\n\nname; ;email\n",
			want: "recipients.csv: line 3: column 2 has no name",
			is:   ErrHeader,
			hint: "give every column a name",
		},
		{
			name: "duplicate column name after trimming",
			data: "email,name, email\nx,y,z\n",
			want: `recipients.csv: line 1, column "email": the name is used twice, by columns 1 and 3`,
			is:   ErrHeader,
			hint: "rename one of the columns",
		},
		{
			name: "header not utf-8",
			data: encode(simplifiedchinese.GBK, "姓名,邮箱\n张三,zhang@example.com\n"),
			want: "recipients.csv: line 1: the name of column 1 is not valid UTF-8",
			is:   ErrInvalidUTF8,
			hint: `set encoding = "gbk"`,
		},
		{
			name: "bare quote in the header",
			data: "na\"me,email\n",
			want: `recipients.csv: line 1: a " inside a field that does not start with one`,
			is:   csv.ErrBareQuote,
			hint: "double quotes",
		},
		{
			name: "unknown encoding",
			data: "name\nAnn\n",
			opts: Options{Encoding: "klingon"},
			want: `recipients.csv: unknown encoding "klingon" (known: utf-8, gbk, gb18030, big5, shift_jis, euc-kr, windows-1252, iso-8859-1, utf-16)`,
			is:   ErrEncoding,
		},
		{
			name: "encoding that decodes nothing",
			data: "name\nAnn\n",
			opts: Options{Encoding: "iso-2022-kr"},
			want: `recipients.csv: unknown encoding "iso-2022-kr" (known: utf-8, gbk, gb18030, big5, shift_jis, euc-kr, windows-1252, iso-8859-1, utf-16)`,
			is:   ErrEncoding,
		},
		{
			name: "quote as delimiter",
			data: "name\nAnn\n",
			opts: Options{Delimiter: '"'},
			want: `recipients.csv: delimiter '"' cannot separate fields`,
			is:   ErrDelimiter,
			hint: "leave delimiter unset",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewReader("recipients.csv", strings.NewReader(tt.data), tt.opts)
			if err == nil {
				r.Close()
				t.Fatalf("NewReader succeeded with columns %q, want error %q", r.Columns(), tt.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tt.want)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %q does not match %v", err, tt.is)
			}
			if got := human.Hint(err); tt.hint == "" && got != "" || !strings.Contains(got, tt.hint) {
				t.Errorf("hint %q, want it to contain %q", got, tt.hint)
			}
		})
	}
}

func TestEncodingNames(t *testing.T) {
	utf8Names := []string{"", "utf-8", "UTF-8", "utf8", " UTF8 ", "unicode-1-1-utf-8"}
	for _, name := range utf8Names {
		if enc, err := lookupEncoding(name); err != nil || enc != nil {
			t.Errorf("lookupEncoding(%q) = %v, %v; want UTF-8 read as is", name, enc, err)
		}
	}
	legacy := []string{
		"gbk", "GBK", "gb2312", "gb18030", "big5", "Big5", "shift_jis", "Shift-JIS", "sjis", "SJIS",
		"euc-kr", "windows-1252", "cp1252", "iso-8859-1", "latin1", "utf-16", "utf-16le", "UTF-16BE",
		"windows-1251", "koi8-r", "euc-jp",
	}
	for _, name := range legacy {
		if enc, err := lookupEncoding(name); err != nil || enc == nil {
			t.Errorf("lookupEncoding(%q) = %v, %v; want an encoding", name, enc, err)
		}
	}
}

func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "members.csv")
	data := encode(simplifiedchinese.GBK, "姓名;邮箱\r\n张三;zhang@example.com\r\n")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Options{Encoding: "gbk"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got, _ := readAll(t, r)
	want := []string{`row 1 line 2: 姓名="张三" 邮箱="zhang@example.com"`}
	if !equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nobody.csv")
	_, err := Open(path, Options{})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing file: %v, want fs.ErrNotExist", err)
	}
	if want := path + ": no such file or directory"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestOpenBadHeaderClosesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dup.csv")
	if err := os.WriteFile(path, []byte("a,a\n1,2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, Options{})
	var e *Error
	if !errors.As(err, &e) || e.File != path || e.Column != "a" {
		t.Fatalf("Open: %#v, want an *Error for column \"a\" of %s", err, path)
	}
}

func TestReadFailure(t *testing.T) {
	boom := errors.New("disk on fire")
	const want = "list.csv: reading: disk on fire"

	// While NewReader looks at the header.
	_, err := NewReader("list.csv", io.MultiReader(strings.NewReader("name\nAnn\n"), iotest.ErrReader(boom)), Options{})
	if !errors.Is(err, boom) || err.Error() != want {
		t.Errorf("NewReader: %v, want %q", err, want)
	}

	// Further down the list, past what NewReader looks at: final.
	const rows = 20000
	list := "name\n" + strings.Repeat("Ann\n", rows)
	r, err := NewReader("list.csv", io.MultiReader(strings.NewReader(list), iotest.ErrReader(boom)), Options{})
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	for i := range rows {
		if rec, err := r.Next(); err != nil || rec.Fields["name"] != "Ann" {
			t.Fatalf("Next %d = %v, %v; want Ann", i+1, rec, err)
		}
	}
	for range 2 {
		if _, err := r.Next(); !errors.Is(err, boom) || err.Error() != want {
			t.Fatalf("Next after the failure: %v, want %q again", err, want)
		}
	}
}

func TestRecipientOwnsItsFields(t *testing.T) {
	r, err := NewReader("list.csv", strings.NewReader("name\nAnn\nBob\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := r.Next()
	first.Fields["name"] = "changed by the caller"
	second, _ := r.Next()
	if second.Fields["name"] != "Bob" {
		t.Errorf("second row %q, want Bob: rows must not share a map", second.Fields)
	}
}

func TestErrorString(t *testing.T) {
	err := errors.New("not valid UTF-8")
	tests := []struct {
		e    Error
		want string
	}{
		{Error{File: "a.csv", Line: 3, Column: "name", Err: err}, `a.csv: line 3, column "name": not valid UTF-8`},
		{Error{File: "a.csv", Line: 3, Err: err}, `a.csv: line 3: not valid UTF-8`},
		{Error{File: "a.csv", Column: "First Name", Err: err}, `a.csv: column "First Name": not valid UTF-8`},
		{Error{File: "a.csv", Err: err, Help: "never shown"}, `a.csv: not valid UTF-8`},
		{Error{Line: 7, Err: err}, `line 7: not valid UTF-8`},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
