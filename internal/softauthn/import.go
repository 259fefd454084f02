package softauthn

import "crypto/ecdsa"

// Add gives the authenticator a credential made elsewhere (as if it had been created by
// another relying party's server with this key and user handle), e.g. for a user moved in
// from another system.
func (a *Authenticator) Add(c Credential) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.creds = append(a.creds, &c)
}

// COSEKey is the COSE_Key encoding of a P-256 public key, as a relying party stores it.
func COSEKey(pub *ecdsa.PublicKey) []byte { return coseKey(pub) }
