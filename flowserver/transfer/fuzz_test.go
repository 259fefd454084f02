package transfer_test

import (
	"errors"
	"testing"

	"github.com/hankogate/hankogate/flowserver/transfer"
)

// FuzzParse: any input is either a document or problems with lines inside it, never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`[{"emails":[{"address":"a@example.com","is_primary":true,"is_verified":true}]}]`))
	f.Add([]byte("[\n{\"user_id\": null, \"webauthn_credentials\": [{\"aaguid\": [1,2]}]}\n]"))
	f.Add([]byte(`[{"emails":[{"address":"a@example.com","is_primary":true}]},{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := transfer.Parse(data)
		if err == nil {
			for _, e := range entries {
				if len(e.Emails) == 0 && e.Username == "" {
					t.Fatalf("accepted a user without address or username: %q", data)
				}
			}
			return
		}
		var pe *transfer.ProblemsError
		if !errors.As(err, &pe) || len(pe.Problems) == 0 {
			t.Fatalf("error without problems: %v", err)
		}
		lines := 1
		for _, c := range data {
			if c == '\n' {
				lines++
			}
		}
		for _, p := range pe.Problems {
			if p.Line < 1 || p.Line > lines {
				t.Fatalf("problem at line %d of a %d-line input: %v", p.Line, lines, p)
			}
		}
	})
}
