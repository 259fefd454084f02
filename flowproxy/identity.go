package flowproxy

// Identity is who a valid session belongs to, as the upstream and Caddy placeholders see it.
type Identity struct {
	UserID    string
	Email     string // primary address as plain text (Hanko's claim is an object)
	SessionID string
	// Claims are the session JWT's claims, for header mappings naming any other claim. The map
	// is shared by every request of the session: read it, never modify it.
	Claims map[string]any
}
