package engine

import "github.com/hankogate/hankogate/flowapi"

// APIError is an error answer of a step: an HTTP status and a Flow API error (Hanko's
// code, our message). A 4xx keeps the flow in its state; a 5xx moves it to error.
type APIError struct {
	Status int
	Err    flowapi.Error
}

// NewAPIError returns an error answer.
func NewAPIError(status int, code, msg string) *APIError {
	return &APIError{Status: status, Err: flowapi.Error{Code: code, Message: msg}}
}

// The error answers of the engine itself; flows add their own with NewAPIError.
var (
	Technical    = NewAPIError(500, flowapi.ErrTechnical, "An internal error stopped this step.")
	Expired      = NewAPIError(410, flowapi.ErrFlowExpired, "This flow is too old to go on; start a new one.")
	Discontinued = NewAPIError(500, flowapi.ErrFlowDiscontinuity, "This flow cannot go on from here.")
	NotPermitted = NewAPIError(403, flowapi.ErrOperationNotPermitted, "That action is not allowed here.")
	FormInvalid  = NewAPIError(400, flowapi.ErrFormDataInvalid, "Some inputs need correcting.")
	RateLimited  = NewAPIError(429, flowapi.ErrRateLimitExceeded, "Too many attempts; wait a moment and try again.")
)
