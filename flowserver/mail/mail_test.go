package mail

import (
	"strings"
	"testing"
	"time"

	"github.com/hankogate/hankogate/messages"
)

// Passcode mails are worded in the language the gateway relays (X-Language), with the code,
// the service and the validity filled in; an unknown language gets English.
func TestMailInUsersLanguage(t *testing.T) {
	cat, err := messages.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ lang, template, subject, body string }{
		{"de-CH", TemplateLogin, "Ihr Anmeldecode: 123456", "um sich bei Shop anzumelden:\n\n123456\n\nDer Code ist 5 Minuten gültig."},
		{"fr", TemplateRecovery, "Votre code pour réinitialiser le mot de passe : 123456", "votre mot de passe Shop :\n\n123456\n\nLe code est valable 5 minutes."},
		{"ja", TemplateEmailVerification, "Your code to confirm your address: 123456", "for Shop:\n\n123456\n\nIt expires in 5 minutes."},
		{"", TemplateEmailLoginAttempted, "Sign-in attempt", "Someone tried to sign in to Shop"},
		{"de", TemplateEmailRegistrationAttempted, "Registrierungsversuch", "ein Konto bei Shop zu erstellen"},
	} {
		m := Compose(cat, "Shop", "a@example.com", tt.template, "123456", tt.lang, 5*time.Minute)
		if m.Subject != tt.subject || !strings.Contains(m.Body, tt.body) || strings.Contains(m.Body, "%!") {
			t.Errorf("%s %s: subject %q body %q", tt.lang, tt.template, m.Subject, m.Body)
		}
	}
}
