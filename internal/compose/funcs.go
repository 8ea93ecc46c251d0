package compose

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/Masterminds/sprig/v3"
)

// allowedFuncs is the part of sprig a mail template may call. It keeps what
// formats data (strings, numbers, lists, defaults, dates parsed from the data)
// and leaves out anything that reads the environment, the network, files,
// randomness, the clock, or can be made to run away (repeat, until, seq).
var allowedFuncs = []string{
	// strings
	"abbrev", "abbrevboth", "trunc", "trim", "trimAll", "trimall", "trimSuffix", "trimPrefix",
	"upper", "lower", "title", "untitle", "substr", "nospace", "initials", "swapcase",
	"snakecase", "camelcase", "kebabcase", "wrap", "wrapWith", "contains", "hasPrefix",
	"hasSuffix", "quote", "squote", "cat", "indent", "nindent", "replace", "plural",
	"toString", "toStrings", "split", "splitList", "splitn", "join", "sortAlpha",
	"regexMatch", "regexFind", "regexFindAll", "regexReplaceAll", "regexReplaceAllLiteral",
	"regexSplit", "regexQuoteMeta",
	// numbers
	"atoi", "int", "int64", "float64", "toDecimal", "add", "add1", "sub", "div", "mod", "mul",
	"addf", "add1f", "subf", "mulf", "divf", "max", "min", "maxf", "minf", "biggest",
	"floor", "ceil", "round",
	// defaults and logic
	"default", "empty", "coalesce", "ternary", "all", "any", "fail",
	// lists and dicts
	"list", "tuple", "first", "rest", "last", "initial", "append", "push", "prepend",
	"concat", "reverse", "uniq", "without", "has", "compact", "slice", "chunk",
	"dict", "get", "hasKey", "keys", "pick", "omit", "pluck", "values", "dig",
	// dates from the data: toDate parses, date formats; no now, ago or time of day
	"toDate", "mustToDate", "date", "dateInZone", "htmlDate", "htmlDateInZone",
	"dateModify", "duration", "durationRound", "unixEpoch",
	// encoding
	"b64enc", "b64dec", "b32enc", "b32dec", "toJson", "toRawJson", "toPrettyJson", "fromJson",
	"urlParse", "urlJoin",
}

// printing are Go's built-ins that print or escape their arguments;
// templates get bounded versions of them.
var printing = map[string]any{
	"printf": fmt.Sprintf, "print": fmt.Sprint, "println": fmt.Sprintln,
	"html": template.HTMLEscaper, "js": template.JSEscaper, "urlquery": template.URLQueryEscaper,
}

// stepFunc is called at the start of every range iteration and every
// {{define}}d template (see addSteps): a loop that neither writes nor calls
// a function still counts against the time limit.
const stepFunc = "_mailmerge_step"

// templateFuncs are the allowlisted functions, unbounded: split and
// splitList never cut more than one piece past maxItems.
var templateFuncs = func() map[string]any {
	all := sprig.TxtFuncMap()
	m := make(map[string]any, len(allowedFuncs)+len(printing))
	for _, name := range allowedFuncs {
		f, ok := all[name]
		if !ok {
			panic("compose: sprig has no function " + name)
		}
		m[name] = f
	}
	splitn := all["splitn"].(func(string, int, string) map[string]string)
	m["split"] = func(sep, orig string) map[string]string { return splitn(sep, maxItems+1, orig) }
	m["splitList"] = func(sep, orig string) []string { return strings.SplitN(orig, sep, maxItems+1) }
	for name, f := range printing {
		m[name] = f
	}
	return m
}()

// funcsFor returns the template functions of one executor, every one of
// them bounded by b: each call is a step of the row, checks what it is
// asked to build before it builds it (before) and what it built after.
func funcsFor(b *limitedBuffer) template.FuncMap {
	m := make(template.FuncMap, len(templateFuncs)+1)
	for name, f := range templateFuncs {
		m[name] = guard(name, f, b)
	}
	m[stepFunc] = func() (string, error) { return "", b.step() }
	return m
}

// parseFuncs names the functions for the parser; templates run with
// funcsFor and the functions of their executor.
var parseFuncs = func() template.FuncMap {
	m := funcsFor(nil)
	m[unsubscribeFunc] = (*executor)(nil).unsubscribeURL
	return m
}()

func guard(name string, f any, b *limitedBuffer) any {
	calling := &name
	// The most common shapes skip reflection, which costs more than they do.
	switch f := f.(type) {
	case func(string) string:
		return func(s string) (string, error) {
			b.checkClock()
			if err := b.error(); err != nil {
				return "", err
			}
			b.calling.Store(calling)
			start := time.Now()
			out := f(s)
			b.calling.Store(nil)
			if err := b.ranLong(name, start); err != nil {
				return "", err
			}
			return out, b.fits(int64(len(out)))
		}
	case func(string, string) bool:
		return func(a, c string) (bool, error) {
			b.checkClock()
			if err := b.error(); err != nil {
				return false, err
			}
			b.calling.Store(calling)
			defer b.calling.Store(nil) // regexMatch panics on a bad pattern
			return f(a, c), nil
		}
	}
	fv := reflect.ValueOf(f)
	ft := fv.Type()
	check := before[name]
	return reflect.MakeFunc(ft, func(args []reflect.Value) []reflect.Value {
		b.checkClock()
		must(b.error())
		b.calling.Store(calling) // its check may take as long as the call (a regex)
		defer b.calling.Store(nil)
		if check != nil {
			must(check(b, name, args))
		}
		var out []reflect.Value
		start := time.Now()
		if ft.IsVariadic() {
			must(b.holds(name, measureOf(b.room(), args...)))
			out = fv.CallSlice(args)
		} else {
			out = fv.Call(args)
		}
		must(b.ranLong(name, start))
		if len(out) > 0 && out[0].Kind() == reflect.String {
			must(b.fits(int64(out[0].Len())))
		} else if len(out) > 0 {
			must(b.holds(name, measureOf(b.room(), out[0])))
		}
		return out
	}).Interface()
}

// must fails the function call: text/template turns the panic into an
// error that names the template line.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

// holds fails when values measured m would not fit in the message or hold
// too many values.
func (b *limitedBuffer) holds(name string, m measure) error {
	if b.err == nil && m.items > maxItems {
		b.err = &limitError{items: name}
	}
	return b.fits(m.bytes)
}

// before checks the arguments of the functions whose result can be far
// larger than their arguments, before they run, and lowers counts that
// mean "no limit" to one past maxItems.
var before = map[string]func(b *limitedBuffer, name string, args []reflect.Value) error{
	"indent":                 checkIndent,
	"nindent":                checkIndent,
	"wrapWith":               checkWrap,
	"replace":                checkReplace,
	"regexReplaceAll":        checkRegexReplace,
	"regexReplaceAllLiteral": checkRegexReplace,
	"regexFindAll":           capCount(2),
	"regexSplit":             capCount(2),
	"splitn":                 capCount(1),
	"join":                   checkJoin,
	"printf":                 checkPrintf,
	"toPrettyJson":           checkPrettyJSON,
	"fromJson":               checkFromJSON,
	"chunk": func(_ *limitedBuffer, _ string, args []reflect.Value) error {
		if args[0].Int() < 1 {
			return errors.New("chunk size must be at least 1")
		}
		return nil
	},
}

// checkIndent: indent n s writes n spaces before every line of s.
func checkIndent(b *limitedBuffer, _ string, args []reflect.Value) error {
	n, s := args[0].Int(), args[1].String()
	if n > b.room() {
		return b.fits(n)
	}
	return b.fits(1 + n*int64(1+strings.Count(s, "\n")) + int64(len(s)))
}

// checkWrap: wrapWith l sep s puts sep at every break, at most one per
// space or line break and one per l bytes.
func checkWrap(b *limitedBuffer, _ string, args []reflect.Value) error {
	l, sep, s := max(args[0].Int(), 1), args[1].String(), args[2].String()
	breaks := int64(strings.Count(s, " ")+strings.Count(s, "\n")) + int64(len(s))/l + 1
	return b.fits(int64(len(s)) + breaks*int64(len(sep)))
}

// checkReplace: replace old new s; an empty old matches between every
// character.
func checkReplace(b *limitedBuffer, _ string, args []reflect.Value) error {
	old, repl, s := args[0].String(), args[1].String(), args[2].String()
	n := strings.Count(s, old)
	return b.fits(int64(len(s)) + int64(n)*max(0, int64(len(repl)-len(old))))
}

// checkRegexReplace: regexReplaceAll re s repl, where repl may copy groups
// ($1) of each match.
func checkRegexReplace(b *limitedBuffer, name string, args []reflect.Value) error {
	re, err := regexp.Compile(args[0].String())
	if err != nil {
		return nil // the function says what is wrong with it
	}
	s, repl := args[1].String(), args[2].String()
	n := len(re.FindAllStringIndex(s, maxItems+1))
	if n > maxItems {
		return b.holds(name, measure{items: n})
	}
	each := int64(len(repl))
	if name == "regexReplaceAll" {
		each += int64(strings.Count(repl, "$")) * int64(len(s))
	}
	return b.fits(int64(len(s)) + int64(n)*each)
}

// capCount lowers the count argument at index i, where a negative count
// means all, to one past maxItems: the result check then refuses more.
func capCount(i int) func(*limitedBuffer, string, []reflect.Value) error {
	return func(_ *limitedBuffer, _ string, args []reflect.Value) error {
		if n := args[i].Int(); n < 0 || n > maxItems+1 {
			args[i] = reflect.ValueOf(maxItems + 1)
		}
		return nil
	}
}

// checkJoin: join sep list writes sep between every two items.
func checkJoin(b *limitedBuffer, name string, args []reflect.Value) error {
	m := measureOf(b.room(), args[1])
	m.bytes += int64(m.items) * int64(len(args[0].String()))
	return b.holds(name, m)
}

// checkPrettyJSON: toPrettyJson writes a line, indented by its depth, for
// every value.
func checkPrettyJSON(b *limitedBuffer, name string, args []reflect.Value) error {
	m := measureOf(b.room(), args[0])
	m.bytes = 6*m.bytes + int64(m.items)*int64(2*m.depth+2) // escapes as \u003c
	return b.holds(name, m)
}

// checkFromJSON refuses a document with more values than a template may
// hold before it is decoded.
func checkFromJSON(b *limitedBuffer, name string, args []reflect.Value) error {
	s := args[0].String()
	n := strings.Count(s, ",") + strings.Count(s, "[") + strings.Count(s, "{")
	return b.holds(name, measure{items: n})
}

// checkPrintf adds what the widths and precisions of a format ask for to
// what its arguments print as, escaped (%q, %x) at worst.
func checkPrintf(b *limitedBuffer, _ string, args []reflect.Value) error {
	format := args[0].String()
	values := args[1]
	vals := make([]reflect.Value, values.Len())
	for i := range vals {
		vals[i] = values.Index(i)
	}
	m := measureOf(b.room(), vals...)
	return b.fits(int64(len(format)) + printfWidths(format, vals) + 10*m.bytes)
}

// printfWidths sums the widths and precisions a format asks for, reading
// those given as * from the arguments the way fmt does.
func printfWidths(format string, args []reflect.Value) int64 {
	var sum int64
	arg := 0
	index := func(i int) int { // an explicit argument index: [n]
		if i < len(format) && format[i] == '[' {
			if end := strings.IndexByte(format[i:], ']'); end > 0 {
				if n, err := strconv.Atoi(format[i+1 : i+end]); err == nil {
					arg = n - 1
				}
				return i + end + 1
			}
		}
		return i
	}
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		for i++; i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0; i++ {
		}
		for field := 0; field < 2 && i < len(format); field++ { // the width, then the precision
			if field == 1 {
				if format[i] != '.' {
					break
				}
				i++
			}
			if i = index(i); i < len(format) && format[i] == '*' {
				if arg >= 0 && arg < len(args) && args[arg].CanInt() {
					sum += min(abs(args[arg].Int()), 1e8)
				}
				arg, i = arg+1, i+1
				continue
			}
			var n int64
			for ; i < len(format) && format[i] >= '0' && format[i] <= '9'; i++ {
				n = min(n*10+int64(format[i]-'0'), 1e8)
			}
			sum += n
		}
		if i = index(i); i < len(format) && format[i] != '%' {
			arg++
		}
	}
	return sum
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// forbiddenHint explains, for a function that exists in sprig but is left
// out here, why it is not available.
func forbiddenHint(name string) string {
	if _, ok := sprig.GenericFuncMap()[name]; !ok {
		return ""
	}
	switch {
	case name == "env" || name == "expandenv":
		return "templates cannot read the environment"
	case name == "now" || name == "ago":
		return "templates cannot read the clock; put the date in a column or in the campaign"
	case strings.HasPrefix(name, "rand") || name == "uuidv4" || name == "shuffle":
		return "templates are deterministic: random functions are not available"
	case name == "repeat" || name == "until" || name == "untilStep" || name == "seq":
		return "functions that can build unbounded output are not available"
	default:
		return "this sprig function is not on the allowlist (see the README: template functions)"
	}
}
