package flowproxy

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Cookie keys must be random: a key that someone typed (a passphrase, a pattern) has far
// less entropy than its length suggests, and anyone who guesses it can forge sessions. No
// check can prove randomness; these refuse what is evidently not random while a key from a
// random generator fails them with a probability below 1e-8 (TestRandomKeysPass computes
// the bounds):
//
//   - size: hash_key 32 or 64 bytes (HMAC-SHA256), block_key 32 bytes (AES-256);
//   - the decoded bytes are not all printable ASCII (text passed as hex), at least half of
//     them are distinct byte values, and the steps from byte to byte do not repeat with a
//     period of at most half the key (counting, 00 11 22 …, a pattern written twice);
//   - base64 text mixes upper- and lower-case letters, uses at least 3/8 as many distinct
//     characters as it is long, and does not read like typed words (typedTextBits): a
//     43-character passphrase decodes as base64, too.

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
	// Only characters holding 6 bits of the key count: a random key's last character holds
	// fewer, so it is not one of 64 equally likely.
	if !randomLooking(strings.TrimRight(text, "=")) || typedTextBits(text[:len(b)*8/6]) >= typedTextLimit {
		return nil, fmt.Errorf("base64 text that reads like typed text, not an encoded random key; %s", KeyAdvice)
	}
	return b, nil
}

// typedTextLimit is the score (typedTextBits) from which base64 text counts as typed. A
// random key reaches it with a probability of at most 2^-30, below 1e-9.
const typedTextLimit = 30

// typedTextBits is log2 of how much likelier text is under a rough model of typed text
// (English words, capitalised or not, and digits that tend to count up) than as the
// base64 of random bytes, where each character is one of 64 equally likely. Whatever the
// model, as long as it is a probability distribution over the next character, the ratio
// averages 1 over random text, so by Markov's inequality random text scores s bits or more
// with a probability of at most 2^-s. The model is rough, so this refuses the evident:
// the passphrases in TestParseKey score 38 to 55 bits, random 32-byte keys around -50 (the
// highest of 200,000 tried: 9), but a phrase of short, common words may stay below the
// limit.
func typedTextBits(text string) float64 {
	bits := 0.0
	ctx, last := afterOther, byte(0)
	for i := 0; i < len(text); i++ {
		c := text[i]
		class := charClass(c)
		q := classOdds[ctx][class]
		switch class {
		case upperChar:
			q *= letterOdds(c - 'A')
		case lowerChar:
			q *= letterOdds(c - 'a')
		case digitChar:
			if ctx != afterDigit {
				q *= 0.1
			} else if c == '0'+(last-'0'+1)%10 {
				q *= 0.55 // counting up, as in 1234
			} else {
				q *= 0.05
			}
		default:
			q *= 0.5 // one of two symbols
		}
		bits += math.Log2(64 * q)
		ctx, last = nextContext(ctx, class), c
	}
	return bits
}

// Character classes of base64 text.
const (
	upperChar = iota
	lowerChar
	digitChar
	otherChar // + / - _
)

// Contexts of the typed-text model: what the previous characters were.
const (
	afterOther = iota // also the start
	afterUpper
	afterLower1 // after one lower-case letter
	afterLower2
	afterLower3 // after three or more
	afterDigit
)

// classOdds[context][class]: capitals start words, words run on in lower case for a few
// letters, digits come in runs.
var classOdds = [6][4]float64{
	afterOther:  {0.45, 0.35, 0.15, 0.05},
	afterUpper:  {0.06, 0.9, 0.02, 0.02},
	afterLower1: {0.09, 0.85, 0.03, 0.03},
	afterLower2: {0.14, 0.8, 0.03, 0.03},
	afterLower3: {0.24, 0.7, 0.03, 0.03},
	afterDigit:  {0.15, 0.15, 0.6, 0.1},
}

// englishLetters is how often each of a to z occurs in English text, per mille.
var englishLetters = [26]float64{82, 15, 28, 43, 127, 22, 20, 61, 70, 2, 8, 40, 24, 67, 75, 19, 1, 60, 63, 91, 28, 10, 24, 2, 20, 1}

// letterOdds is the chance of letter i (0 for a) within its case: mostly English
// frequencies, a fifth evenly spread so that no letter is next to impossible.
func letterOdds(i byte) float64 {
	const total = 1003 // sum of englishLetters
	return 0.8*englishLetters[i]/total + 0.2/26
}

func charClass(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return upperChar
	case 'a' <= c && c <= 'z':
		return lowerChar
	case '0' <= c && c <= '9':
		return digitChar
	}
	return otherChar
}

func nextContext(ctx, class int) int {
	switch class {
	case upperChar:
		return afterUpper
	case digitChar:
		return afterDigit
	case otherChar:
		return afterOther
	}
	switch ctx {
	case afterLower1:
		return afterLower2
	case afterLower2, afterLower3:
		return afterLower3
	}
	return afterLower1
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
	case periodicSteps(key):
		return "counts or repeats a pattern, not random"
	}
	return ""
}

// periodicSteps reports whether the differences between neighbouring bytes repeat with a
// period of at most half the key: an arithmetic sequence (period 1) or a pattern written
// twice. Those differences of random bytes are random too, so a period p shows by chance
// with a probability of 256^-(n-1-p), at most about 1e-36 for n = 32.
func periodicSteps(key []byte) bool {
	n := len(key)
	for p := 1; p <= n/2; p++ {
		periodic := true
		for i := 0; i+p+1 < n && periodic; i++ {
			periodic = key[i+1]-key[i] == key[i+p+1]-key[i+p]
		}
		if periodic {
			return true
		}
	}
	return false
}
