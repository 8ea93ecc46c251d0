package compose

import (
	"strings"
	"text/template"

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

// funcMap is built once; templates share it.
var funcMap = func() template.FuncMap {
	all := sprig.TxtFuncMap()
	m := make(template.FuncMap, len(allowedFuncs))
	for _, name := range allowedFuncs {
		f, ok := all[name]
		if !ok {
			panic("compose: sprig has no function " + name)
		}
		m[name] = f
	}
	return m
}()

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
