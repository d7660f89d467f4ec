package engine

import (
	"errors"
	"fmt"
)

// Code classifies an error for clients. graph maps each code to the GraphQL
// `extensions.code` of the same name, in one table.
type Code string

// Error codes of the API contract (README "API conventions").
const (
	CodeBadUserInput        Code = "BAD_USER_INPUT"
	CodeNotFound            Code = "NOT_FOUND"
	CodeConflict            Code = "CONFLICT"
	CodeInvalidCatalog      Code = "INVALID_CATALOG"
	CodeUnauthenticated     Code = "UNAUTHENTICATED"
	CodeForbidden           Code = "FORBIDDEN"
	CodePastPointOfNoReturn Code = "PAST_POINT_OF_NO_RETURN"
	CodeInvalidState        Code = "INVALID_STATE"
	// CodeSlowSubscriber ends a subscription that fell too far behind the
	// live feed; it can resume by cursor.
	CodeSlowSubscriber Code = "SLOW_SUBSCRIBER"
	// CodeUnavailable: the server is shutting down or a dependency is
	// down; try again (subscriptions: resubscribe with your last cursor).
	CodeUnavailable Code = "UNAVAILABLE"
	// CodeInternal is everything else: a bug or a failing dependency. Its
	// message is not shown to clients.
	CodeInternal Code = "INTERNAL_SERVER_ERROR"
)

// Codes lists every code, for the tables that translate them.
var Codes = []Code{CodeBadUserInput, CodeNotFound, CodeConflict, CodeInvalidCatalog, CodeUnauthenticated,
	CodeForbidden, CodePastPointOfNoReturn, CodeInvalidState, CodeSlowSubscriber, CodeUnavailable, CodeInternal}

// Problem is one finding of a validation, with the path of what it is about
// (for a catalog `scenarios[0].groups[1].steps[2].callout.system`, for an
// order `lines[3].productCode`).
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Error is the one error type of the engine. Every error a caller should act
// on is an *Error with a Code; anything else is CodeInternal.
type Error struct {
	Code     Code
	Message  string
	Problems []Problem // every problem found, for validation errors
}

func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return e.Message
	}
	msg := e.Message
	for i, p := range e.Problems {
		if i == 5 {
			msg += fmt.Sprintf("; and %d more", len(e.Problems)-5)
			break
		}
		msg += "; " + p.String()
	}
	return msg
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err: the Code of the first *Error in its
// chain, or CodeInternal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsCode reports whether err carries the code.
func IsCode(err error, code Code) bool { return err != nil && ErrorCode(err) == code }
