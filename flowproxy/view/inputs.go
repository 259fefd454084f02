package view

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/hankogate/hankogate/flowapi"
)

// Inputs turns a posted form into the input_data of action a. Only inputs the action
// declares are taken (plus the undeclared id Hanko reads for a few account actions), never
// the gateway's "_" fields; the first value of each counts. Booleans become JSON booleans
// (unchecked or missing: false), everything else a string; json inputs stay the raw text
// the passkey script posted. A missing optional input is left out, a missing required one
// is sent as "" so that the server answers with value_missing_error.
func Inputs(a *flowapi.Action, form url.Values) map[string]any {
	data := map[string]any{}
	if a == nil {
		return data
	}
	for key, in := range a.Inputs {
		if in == nil || key == "" || strings.HasPrefix(key, "_") {
			continue
		}
		value, present := first(form, key)
		switch {
		case in.Type == flowapi.TypeBoolean:
			data[key] = present && isTrue(value)
		case in.Type == flowapi.TypeJSON && value == "":
			// Empty text is never JSON; treat it as not posted.
			if in.IsRequired() {
				data[key] = ""
			}
		case present:
			data[key] = value
		case in.IsRequired():
			data[key] = ""
		}
	}
	if t, ok := profileTargets[a.Name]; ok {
		if _, declared := a.Inputs[t.input]; !declared {
			if value, present := first(form, t.input); present {
				data[t.input] = value
			}
		}
	}
	return data
}

func first(form url.Values, key string) (string, bool) {
	v := form[key]
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// isTrue accepts what checkboxes and scripts send: "true" (our value), "on" (a browser's
// default), "1".
func isTrue(v string) bool {
	if strings.EqualFold(v, "on") {
		return true
	}
	b, err := strconv.ParseBool(v)
	return err == nil && b
}
