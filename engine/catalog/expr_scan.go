package catalog

import (
	"fmt"

	"github.com/batonhq/baton/engine"
)

// scanExpr bounds an expression's source before expr-lang parses it. The
// parser is recursive descent and counts its nodes only once a
// sub-expression is complete, so nesting it has not finished yet — a
// parenthesis, a bracket, a chain of prefix operators (`!!!!x`,
// `- - - x`), a right-associative chain (`a ** b ** c`), `let` and
// if/else chains — costs stack before MaxNodes can stop it; a few hundred
// thousand open parentheses overflowed the stack and killed the process.
// Every later pass (checker, optimizer, compiler) recurses over the tree
// as well, and a long binary chain is a tree as deep as the chain is long.
//
// The scan is linear and allocation-free, and tokenizes the way
// expr-lang's lexer does (strings, raw strings, comments), so that nothing
// hidden from it is seen by the parser. Its depth is an upper bound of the
// tree's depth: open brackets, plus, at each open bracket level, the
// operators since the last comma (an operand list's elements are
// siblings, not nested). Member access (`a.b.c`) is not counted: the
// parser reads it in a loop, and its depth in the tree is bounded by
// ExprNodes.
func scanExpr(src string, l engine.Limits) error {
	if len(src) > l.ExprLength {
		return exprLimitError(fmt.Sprintf("the expression is %d bytes long; the limit is %d (ExprLength)", len(src), l.ExprLength))
	}
	var (
		// level counts the operators at the innermost open bracket since
		// its last comma; stack keeps the counts of the enclosing levels;
		// nested is all of them plus the open brackets.
		level  int
		stack  []int
		nested int
	)
	tooDeep := func(at int) error {
		return exprLimitError(fmt.Sprintf("the expression nests deeper than %d levels at byte %d (ExprDepth)", l.ExprDepth, at))
	}
	op := func(at int) error {
		level++
		nested++
		if nested > l.ExprDepth {
			return tooDeep(at)
		}
		return nil
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			i++
		case c == '"' || c == '\'':
			i = skipQuoted(src, i)
		case (c == 'b' || c == 'B') && i+1 < len(src) && (src[i+1] == '"' || src[i+1] == '\''):
			i = skipQuoted(src, i+1)
		case c == '`':
			i = skipUntil(src, i+1, "`")
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			i = skipUntil(src, i+2, "\n")
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			i = skipUntil(src, i+2, "*/")
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, level)
			level = 0
			nested++
			if nested > l.ExprDepth {
				return tooDeep(i)
			}
			i++
		case c == ')' || c == ']' || c == '}':
			if len(stack) > 0 {
				nested -= level + 1
				level = stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
			i++
		case c == ',':
			nested -= level
			level = 0
			i++
		case c == ';':
			i++
		case c >= '0' && c <= '9':
			i = skipNumber(src, i)
		case c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			i = skipNumber(src, i+1)
		case c == '.' || c == '#':
			// member access and predicate pointers
			i++
			if c == '.' && i < len(src) && src[i] == '.' {
				// `..`, the range operator
				if err := op(i - 1); err != nil {
					return err
				}
				i++
			}
		case c == '?' && i+1 < len(src) && src[i+1] == '.':
			i += 2 // optional member access
		case isWordByte(c):
			j := i
			for j < len(src) && isWordByte(src[j]) {
				j++
			}
			switch src[i:j] {
			case "not", "and", "or", "in", "matches", "contains", "startsWith", "endsWith", "let", "if", "else":
				if err := op(i); err != nil {
					return err
				}
			}
			i = j
		default:
			// An operator: one token of the lexer's two-character
			// operators, or one character.
			n := 1
			if i+1 < len(src) {
				switch src[i : i+2] {
				case "==", "!=", "<=", ">=", "&&", "||", "??", "**", "::":
					n = 2
				}
			}
			if err := op(i); err != nil {
				return err
			}
			i += n
		}
	}
	return nil
}

// skipQuoted returns the index after the string literal starting at i
// (the lexer's scanString: a backslash escapes the next byte).
func skipQuoted(src string, i int) int {
	q := src[i]
	for i++; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case q:
			return i + 1
		}
	}
	return len(src)
}

func skipUntil(src string, i int, end string) int {
	for ; i+len(end) <= len(src); i++ {
		if src[i:i+len(end)] == end {
			return i + len(end)
		}
	}
	return len(src)
}

// skipNumber skips a number literal, leaving `..` (1..5) to the caller.
func skipNumber(src string, i int) int {
	for i < len(src) {
		c := src[i]
		switch {
		case c == '.' && i+1 < len(src) && src[i+1] == '.':
			return i
		case isWordByte(c) || c == '.':
			i++
		case (c == '+' || c == '-') && (src[i-1] == 'e' || src[i-1] == 'E'):
			i++
		default:
			return i
		}
	}
	return i
}

// isWordByte is a byte of an identifier: letters, digits, _ and $, and
// every byte of a multi-byte character (the lexer takes Unicode letters).
func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}
