package compose

import (
	"iter"
	"strings"
	"text/template/parse"
)

// columnRef is one place where a template names a column of the list.
type columnRef struct {
	Column string
	Pos    parse.Pos
}

// columnRefs lists every column a template names: .x and $.x where dot is
// the recipient, and index . "x" / index $ "x". Inside range and with, dot is
// something else, so only $-rooted references are collected there.
func columnRefs(tree *parse.Tree) []columnRef {
	if tree == nil || tree.Root == nil {
		return nil
	}
	var refs []columnRef
	var walk func(n parse.Node, dotIsRow bool)
	walkPipe := func(p *parse.PipeNode, dotIsRow bool) {
		if p == nil {
			return
		}
		for _, cmd := range p.Cmds {
			refs = append(refs, commandRefs(cmd, dotIsRow)...)
			for _, arg := range cmd.Args {
				switch a := arg.(type) {
				case *parse.PipeNode:
					walk(a, dotIsRow)
				}
			}
		}
	}
	walk = func(n parse.Node, dotIsRow bool) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c, dotIsRow)
			}
		case *parse.ActionNode:
			walkPipe(n.Pipe, dotIsRow)
		case *parse.PipeNode:
			walkPipe(n, dotIsRow)
		case *parse.IfNode:
			walkPipe(n.Pipe, dotIsRow)
			walk(n.List, dotIsRow)
			walk(n.ElseList, dotIsRow)
		case *parse.RangeNode:
			walkPipe(n.Pipe, dotIsRow)
			walk(n.List, false)
			walk(n.ElseList, dotIsRow)
		case *parse.WithNode:
			walkPipe(n.Pipe, dotIsRow)
			walk(n.List, false)
			walk(n.ElseList, dotIsRow)
		case *parse.TemplateNode:
			walkPipe(n.Pipe, dotIsRow)
		}
	}
	walk(tree.Root, true)
	return refs
}

// commandRefs finds column names in one command of a pipeline.
func commandRefs(cmd *parse.CommandNode, dotIsRow bool) []columnRef {
	var refs []columnRef
	// index . "x" or index $ "x"
	if len(cmd.Args) >= 3 {
		if id, ok := cmd.Args[0].(*parse.IdentifierNode); ok && id.Ident == "index" {
			if isRow(cmd.Args[1], dotIsRow) {
				if s, ok := cmd.Args[2].(*parse.StringNode); ok {
					refs = append(refs, columnRef{Column: s.Text, Pos: s.Pos})
				}
			}
		}
	}
	for _, arg := range cmd.Args {
		switch a := arg.(type) {
		case *parse.FieldNode:
			if dotIsRow && len(a.Ident) > 0 {
				refs = append(refs, columnRef{Column: a.Ident[0], Pos: a.Pos})
			}
		case *parse.VariableNode:
			if len(a.Ident) > 1 && a.Ident[0] == "$" {
				refs = append(refs, columnRef{Column: a.Ident[1], Pos: a.Pos})
			}
		case *parse.ChainNode:
			// (.x).y: only the first field reaches the row.
			if f, ok := a.Node.(*parse.FieldNode); ok && dotIsRow && len(f.Ident) > 0 {
				refs = append(refs, columnRef{Column: f.Ident[0], Pos: f.Pos})
			}
		}
	}
	return refs
}

func isRow(n parse.Node, dotIsRow bool) bool {
	switch n := n.(type) {
	case *parse.DotNode:
		return dotIsRow
	case *parse.VariableNode:
		return len(n.Ident) == 1 && n.Ident[0] == "$"
	}
	return false
}

// literalCommas counts the commas in the template's own text (outside
// actions): the number of addresses an address template means, minus one.
func literalCommas(t *tmpl) int {
	n := 0
	var walk func(parse.Node)
	walk = func(node parse.Node) {
		switch node := node.(type) {
		case *parse.ListNode:
			if node == nil {
				return
			}
			for _, c := range node.Nodes {
				walk(c)
			}
		case *parse.TextNode:
			n += strings.Count(string(node.Text), ",")
		case *parse.IfNode:
			walk(node.List)
			walk(node.ElseList)
		}
	}
	walk(t.tree().Root)
	return n
}

// numberFuncs return numbers; ranging over their result could loop for
// billions of iterations on one cell's value.
var numberFuncs = map[string]bool{
	"atoi": true, "int": true, "int64": true, "float64": true, "add": true, "add1": true,
	"sub": true, "mul": true, "div": true, "mod": true, "max": true, "min": true, "len": true,
	"round": true, "floor": true, "ceil": true, "biggest": true, "toDecimal": true,
	"addf": true, "add1f": true, "subf": true, "mulf": true, "divf": true, "maxf": true, "minf": true,
}

// rangeOverNumber finds a {{range N}} whose N is a number literal or the
// result of a numeric function: Go templates can range over integers, and a
// template must not be able to spin for minutes on one row.
func rangeOverNumber(tree *parse.Tree) (parse.Pos, bool) {
	if tree == nil || tree.Root == nil {
		return 0, false
	}
	for n := range rangeNodes(tree.Root) {
		p := n.Pipe
		if p == nil || len(p.Cmds) == 0 {
			continue
		}
		last := p.Cmds[len(p.Cmds)-1]
		if len(last.Args) == 0 {
			continue
		}
		switch a := last.Args[0].(type) {
		case *parse.NumberNode:
			return a.Pos, true
		case *parse.IdentifierNode:
			if numberFuncs[a.Ident] {
				return a.Pos, true
			}
		}
	}
	return 0, false
}

// rangeNodes yields every {{range}} of a template, each before the ones
// inside it. A yielded node's body may be changed: it is walked after.
func rangeNodes(root parse.Node) iter.Seq[*parse.RangeNode] {
	return func(yield func(*parse.RangeNode) bool) { walkRanges(root, yield) }
}

func walkRanges(n parse.Node, yield func(*parse.RangeNode) bool) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return true
		}
		for _, c := range n.Nodes {
			if !walkRanges(c, yield) {
				return false
			}
		}
	case *parse.IfNode:
		return walkRanges(n.List, yield) && walkRanges(n.ElseList, yield)
	case *parse.WithNode:
		return walkRanges(n.List, yield) && walkRanges(n.ElseList, yield)
	case *parse.RangeNode:
		return yield(n) && walkRanges(n.List, yield) && walkRanges(n.ElseList, yield)
	}
	return true
}

// mayLoop reports whether a template nests range inside range or calls a
// template: the only ways it can run long without writing output.
func mayLoop(tree *parse.Tree) bool {
	if tree == nil || tree.Root == nil {
		return false
	}
	var walk func(n parse.Node, depth int) bool
	walk = func(n parse.Node, depth int) bool {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return false
			}
			for _, c := range n.Nodes {
				if walk(c, depth) {
					return true
				}
			}
		case *parse.IfNode:
			return walk(n.List, depth) || walk(n.ElseList, depth)
		case *parse.WithNode:
			return walk(n.List, depth) || walk(n.ElseList, depth)
		case *parse.RangeNode:
			if depth >= 1 {
				return true
			}
			return walk(n.List, depth+1) || walk(n.ElseList, depth)
		case *parse.TemplateNode:
			return true
		}
		return false
	}
	return walk(tree.Root, 0)
}
