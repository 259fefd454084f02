package flowproxy

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Cookie keys must be random: a key that someone typed (a passphrase, a pattern) has far
// less entropy than its length suggests, and anyone who guesses it can forge sessions. No
// check can prove randomness; these refuse what is evidently not random while a key from a
// random generator fails them with a probability below 1e-8 (TestRandomKeysPass computes
// the bounds):
//
//   - size: hash_key 32 or 64 bytes (HMAC-SHA256), block_key 32 bytes (AES-256);
//   - the decoded bytes are not all printable ASCII (text passed as hex), and at least half
//     of them are distinct byte values (no repeated patterns);
//   - base64 text mixes upper- and lower-case letters and uses at least 3/8 as many distinct
//     characters as it is long (a 43-character passphrase decodes as base64, too).

// KeyAdvice says how to make a good key; every key error ends with it.
const KeyAdvice = "generate one with: openssl rand -hex 32"

// ParseKey decodes a cookie key written as hex or base64 (standard or URL alphabet, padded
// or not) and refuses base64 text that reads like typed text. Text that is valid hex is
// taken as hex, since hex digits also form valid base64 (of another length). The error
// never contains the key.
func ParseKey(text string) ([]byte, error) {
	if b, err := hex.DecodeString(text); err == nil {
		return b, nil
	}
	var b []byte
	err := errors.New("neither hex nor base64")
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(text); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("neither hex nor base64; %s", KeyAdvice)
	}
	if !randomLooking(strings.TrimRight(text, "=")) {
		return nil, fmt.Errorf("base64 text that reads like typed text, not an encoded random key; %s", KeyAdvice)
	}
	return b, nil
}

// randomLooking applies the base64 text rule.
func randomLooking(text string) bool {
	var seen [128]bool
	distinct := 0
	upper, lower := false, false
	for i := 0; i < len(text); i++ {
		c := text[i]
		upper = upper || 'A' <= c && c <= 'Z'
		lower = lower || 'a' <= c && c <= 'z'
		if c < 128 && !seen[c] {
			seen[c] = true
			distinct++
		}
	}
	return upper && lower && distinct*8 >= len(text)*3
}

// keyProblem says what is wrong with a decoded key of option ("hash_key" or "block_key"),
// "" when nothing is.
func keyProblem(option string, key []byte) string {
	n := len(key)
	switch {
	case option == "hash_key" && n != 32 && n != 64:
		return fmt.Sprintf("is %d bytes; want 32 or 64 random bytes", n)
	case option == "block_key" && n != 32:
		return fmt.Sprintf("is %d bytes; want 32 random bytes (AES-256)", n)
	}
	printable := true
	var seen [256]bool
	distinct := 0
	for _, c := range key {
		printable = printable && ' ' <= c && c <= '~'
		if !seen[c] {
			seen[c] = true
			distinct++
		}
	}
	switch {
	case printable:
		return "is printable text, not random bytes"
	case distinct*2 < n:
		return fmt.Sprintf("has only %d distinct byte values in %d bytes, not random", distinct, n)
	}
	return ""
}
