package token

import (
	"strings"
	"testing"
)

func TestUUIDAndIsUUID(t *testing.T) {
	id, err := UUID()
	if err != nil || !IsUUID4(id) {
		t.Fatalf("UUID() = %q, %v: want a version 4, variant 1 UUID", id, err)
	}
	for s, want := range map[string]bool{
		"0ECB5E2C-4A5B-4C3D-8E9F-0123456789AB":  true,
		"0ecb5e2c-4a5b-4c3d-8e9f-0123456789ab":  true,
		"0ecb5e2c4a5b4c3d8e9f0123456789ab":      false,
		"0ecb5e2c-4a5b-4c3d-8e9f-0123456789ag":  false,
		"0ecb5e2c-4a5b-4c3d-8e9f-0123456789abc": false,
		"":                                      false,
	} {
		if IsUUID(s) != want {
			t.Errorf("IsUUID(%q) = %v, want %v", s, !want, want)
		}
	}
	for s, want := range map[string]bool{
		"0ECB5E2C-4A5B-4C3D-BE9F-0123456789AB": true,
		"0ecb5e2c-4a5b-4c3d-8e9f-0123456789ab": true,
		"ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4": false, // version 1
		"0ecb5e2c-4a5b-4c3d-ce9f-0123456789ab": false, // Microsoft's variant
		"00000000-0000-0000-0000-000000000000": false,
		"0ecb5e2c-4a5b-4c3d-8e9f-0123456789ag": false,
	} {
		if IsUUID4(s) != want {
			t.Errorf("IsUUID4(%q) = %v, want %v", s, !want, want)
		}
	}
}

func TestStringAndEqual(t *testing.T) {
	s, err := String(64, "01")
	if err != nil || len(s) != 64 || strings.Trim(s, "01") != "" {
		t.Fatalf("String = %q, %v", s, err)
	}
	if !Equal("abc", "abc") || Equal("abc", "abd") || Equal("abc", "ab") {
		t.Fatal("Equal disagrees with ==")
	}
}
