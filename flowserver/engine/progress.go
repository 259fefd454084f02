package engine

import (
	"encoding/json"
	"fmt"
)

// progress is where a flow stands beyond its state, kept server-side in the flow's row
// (column progress, JSON) and never sent to the client.
type progress[D any] struct {
	Queue []string   `json:"queue,omitempty"` // states that follow the current one
	Trail []waypoint `json:"trail,omitempty"` // the steps back can undo, oldest first
	Data  D          `json:"data"`
	// WrongAnswers counts wrong codes given in the flow; outside Data so that going back
	// does not undo it.
	WrongAnswers int `json:"wrong_codes,omitempty"`
}

// waypoint is the flow as it was before a step that back can undo.
type waypoint struct {
	State string          `json:"state"`
	Queue []string        `json:"queue,omitempty"`
	Data  json.RawMessage `json:"data"`
}

func decodeProgress[D any](b []byte) (progress[D], error) {
	var p progress[D]
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decode flow progress: %w", err)
	}
	return p, nil
}
