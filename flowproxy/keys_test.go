package flowproxy

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"math"
	"strings"
	"testing"
)

// Keys made with openssl rand -hex 32, -base64 32 and -hex 64.
const (
	goodHex32 = "fc87ef2efff8d3da8b407fb41cc6c795c530e69838ed35b2c0d8c8740d1fbf07"
	goodB6432 = "Y975P8BF0Qzg28I6S4tJBFrwccEpw8Uw4rCAGXV4JVg="
	goodHex64 = "c2a88dac201ef87de3219b41260e2611066173691262b3e5339aa7dc8fc6bdf63691dd37dffb1fdaddc0b48e2a42820458fc97312b48489850bf3911931a6c9c"
)

// TestParseKey: the encodings accepted, and base64 text that reads like typed text refused.
func TestParseKey(t *testing.T) {
	raw, _ := hex.DecodeString(goodHex32)
	for _, tc := range []struct {
		name, text string
		want       string // error; "" for accepted
	}{
		{"hex", goodHex32, ""},
		{"HEX", strings.ToUpper(goodHex32), ""},
		{"std base64", base64.StdEncoding.EncodeToString(raw), ""},
		{"raw url base64", base64.RawURLEncoding.EncodeToString(raw), ""},
		{"base64 from openssl", goodB6432, ""},
		{"neither", "not a key!", "neither hex nor base64; generate one with: openssl rand -hex 32"},
		{"43-letter passphrase", "correcthorsebatterystaplecorrecthorsebatter",
			"base64 text that reads like typed text, not an encoded random key; generate one with: openssl rand -hex 32"},
		{"upper-case passphrase", "CORRECTHORSEBATTERYSTAPLECORRECTHORSEBATTER",
			"base64 text that reads like typed text, not an encoded random key; generate one with: openssl rand -hex 32"},
		{"few characters", "abababababababababababababAbababababababab0",
			"base64 text that reads like typed text, not an encoded random key; generate one with: openssl rand -hex 32"},
		{"CamelCase passphrase", "TheQuickBrownFoxJumpsOverTheLazyDog12345678", "base64 text that reads like typed text, not an encoded random key; generate one with: openssl rand -hex 32"},
		{"padded passphrase", "TheQuickBrownFoxJumpsOverTheLazyDog12345678=", "base64 text that reads like typed text, not an encoded random key; generate one with: openssl rand -hex 32"},
		{"passphrase with a capital", "Thequickbrownfoxjumpsoverthelazydog12345678", "base64 text that reads like typed text, not an encoded random key; generate one with: openssl rand -hex 32"},
		{"another passphrase", "HankoGateCookieHashKeyPleaseChangeMeNow0001", "base64 text that reads like typed text, not an encoded random key; generate one with: openssl rand -hex 32"},
	} {
		got, err := ParseKey(tc.text)
		switch {
		case tc.want == "" && (err != nil || len(got) != 32):
			t.Errorf("%s: %d bytes, %v", tc.name, len(got), err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), tc.text):
			t.Errorf("%s: the error shows the key", tc.name)
		}
	}
	// 64 hex digits are also valid base64 (48 bytes); hex wins.
	if got, err := ParseKey(goodHex32); err != nil || hex.EncodeToString(got) != goodHex32 {
		t.Errorf("hex key decoded as %x, %v", got, err)
	}
}

// TestKeyRules: what Validate accepts as hash_key and block_key, with its messages.
func TestKeyRules(t *testing.T) {
	good, _ := hex.DecodeString(goodHex32)
	good64, _ := hex.DecodeString(goodHex64)
	text := []byte("my very secret passphrase, 32 ch")
	pattern, _ := hex.DecodeString(strings.Repeat("deadbeef", 8))
	zeros := make([]byte, 32)
	counting, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	counting64 := make([]byte, 64)
	stepped := make([]byte, 32)
	for i := range counting64 {
		counting64[i] = byte(0x80 + i)
	}
	for i := range stepped {
		stepped[i] = byte(3 + 7*i)
	}
	twice, _ := hex.DecodeString(strings.Repeat("00112233445566778899aabbccddeeff", 2))
	const advice = "; generate one with: openssl rand -hex 32"
	for _, tc := range []struct {
		name        string
		hash, block []byte
		want        []string // errors; none for accepted
	}{
		{"random 32/32", good, good, nil},
		{"random 64/32", good64, good, nil},
		{"short hash", good[:16], good, []string{"cookie hash_key: key 1 is 16 bytes; want 32 or 64 random bytes" + advice}},
		{"hash of 48 bytes", append(good64[:0:0], good64[:48]...), good, []string{"cookie hash_key: key 1 is 48 bytes; want 32 or 64 random bytes" + advice}},
		{"AES-128 block", good, good[:16], []string{"cookie block_key: key 1 is 16 bytes; want 32 random bytes (AES-256)" + advice}},
		{"AES-192 block", good, good[:24], []string{"cookie block_key: key 1 is 24 bytes; want 32 random bytes (AES-256)" + advice}},
		{"printable text", text, good, []string{"cookie hash_key: key 1 is printable text, not random bytes" + advice}},
		{"repeated pattern", good, pattern, []string{"cookie block_key: key 1 has only 4 distinct byte values in 32 bytes, not random" + advice}},
		{"counting", counting, good, []string{"cookie hash_key: key 1 counts or repeats a pattern, not random" + advice}},
		{"counting in steps of 7", stepped, good, []string{"cookie hash_key: key 1 counts or repeats a pattern, not random" + advice}},
		{"16 bytes twice", good, twice, []string{"cookie block_key: key 1 counts or repeats a pattern, not random" + advice}},
		{"counting, 64 bytes", counting64, good, []string{"cookie hash_key: key 1 counts or repeats a pattern, not random" + advice}},
		{"zeros, both", zeros, zeros, []string{
			"cookie hash_key: key 1 has only 1 distinct byte values in 32 bytes, not random" + advice,
			"cookie block_key: key 1 has only 1 distinct byte values in 32 bytes, not random" + advice}},
	} {
		c := Config{APIURL: "http://hanko.test", Cookie: CookieConfig{Keys: []KeyPair{{Hash: tc.hash, Block: tc.block}}}}
		err := c.Validate()
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || err.Error() != strings.Join(tc.want, "\n") {
			t.Errorf("%s: error\n%v\nwant\n%s", tc.name, err, strings.Join(tc.want, "\n"))
		}
	}
}

// TestRandomKeysPass: keys from a random generator pass every rule. The chance that one
// fails is bounded by computing each rule's failure probability exactly (below 1e-8 in
// all), and a few thousand real random keys are tried.
func TestRandomKeysPass(t *testing.T) {
	for _, n := range []int{32, 64} {
		// Fewer than n/2 distinct bytes among n uniform bytes, plus all printable.
		p := fewerDistinct(n, 256, (n+1)/2) + math.Pow(95.0/256, float64(n))
		// Base64 text of n bytes (unpadded): fewer than 3/8 of its length distinct, or no
		// upper- or no lower-case letter.
		l := (n*8 + 5) / 6
		p += fewerDistinct(l, 64, (3*l+7)/8) + 2*math.Pow(38.0/64, float64(l))
		// Byte steps repeating with a period p <= n/2 (n-1-p steps must match), and text
		// scoring as typed (Markov's inequality, see typedTextBits).
		for period := 1; period <= n/2; period++ {
			p += math.Pow(256, -float64(n-1-period))
		}
		p += math.Pow(2, -typedTextLimit)
		if p > 1e-8 {
			t.Errorf("a random %d-byte key fails with probability %.2g", n, p)
		}
	}
	for i := 0; i < 3000; i++ {
		for _, n := range []int{32, 64} {
			b := make([]byte, n)
			_, _ = rand.Read(b)
			if p := keyProblem("hash_key", b); p != "" {
				t.Fatalf("random key %x: %s", b, p)
			}
			for _, text := range []string{hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
				base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
				base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b)} {
				if _, err := ParseKey(text); err != nil {
					t.Fatalf("random key %s: %v", text, err)
				}
			}
		}
	}
}

// The typed-text model is a probability distribution over the next character, whatever
// came before and in either base64 alphabet: what the bound of typedTextBits rests on.
func TestTypedTextModelIsADistribution(t *testing.T) {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	for _, prefix := range []string{"", "+", "_", "Q", "x", "xy", "xyz", "word", "0", "5", "9", "a1"} {
		for _, alphabet := range []string{letters + "+/", letters + "-_"} {
			sum := 0.0
			for i := 0; i < len(alphabet); i++ {
				// The chance of the next character is 2^bits / 64 for its bits of evidence.
				sum += math.Exp2(typedTextBits(prefix+alphabet[i:i+1])-typedTextBits(prefix)) / 64
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("after %q the next character's chances add up to %v", prefix, sum)
			}
		}
	}
}

// fewerDistinct is the probability that n uniform draws from m values show fewer than k
// distinct ones.
func fewerDistinct(n, m, k int) float64 {
	p := make([]float64, n+2)
	p[0] = 1
	for i := 0; i < n; i++ {
		q := make([]float64, n+2)
		for d := 0; d <= i; d++ {
			q[d] += p[d] * float64(d) / float64(m)
			q[d+1] += p[d] * float64(m-d) / float64(m)
		}
		p = q
	}
	sum := 0.0
	for d := 0; d < k; d++ {
		sum += p[d]
	}
	return sum
}
