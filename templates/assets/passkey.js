/*
 * hankogate passkey script: reports the browser's WebAuthn capabilities and runs the
 * WebAuthn ceremonies of the gateway's server-rendered pages. No dependencies and no
 * inline code, so pages work under a strict Content-Security-Policy. Without it (or
 * without JavaScript) every page still works; only passkeys are unavailable.
 *
 * The page tells the script what to do:
 *   <main data-state="STATE">                  the Flow API state shown; on "preflight" the
 *                                               register_client_capabilities form is filled
 *                                               with the browser's capabilities and posted
 *   <div id="webauthn-options" data-kind="get|create" data-options="JSON">
 *                                               request_options / creation_options
 *   <form data-action="ACTION" data-needs-js hidden>
 *     <input type="hidden" name="assertion_response|public_key" data-webauthn>
 *                                               filled with the credential JSON, then posted
 *   <div id="passkey-texts" data-cancelled="..." data-exists="..." data-unsupported="..."
 *        data-origin="..." data-failed="..." data-retry="...">
 *                                               every text the script shows, in the page's
 *                                               language (from the message catalogue)
 */
(function () {
  "use strict";

  var main = document.querySelector("main[data-state]");
  if (!main) {
    return;
  }
  var state = main.getAttribute("data-state");
  var busy = false;

  function webauthnSupported() {
    return !!(window.PublicKeyCredential && navigator.credentials &&
      navigator.credentials.create && navigator.credentials.get);
  }

  function formFor(action) {
    return document.querySelector('form[data-action="' + action + '"]');
  }

  // field returns the form's input of that name, adding a hidden one if the page has none.
  function field(form, name) {
    var input = form.querySelector('[name="' + name + '"]');
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.appendChild(input);
    }
    return input;
  }

  // --- messages -------------------------------------------------------------------------

  // text returns one of the page's texts for the script ("" if the page has none). The
  // script keeps no texts of its own: a copy here would show English on every other
  // language's page and ignore the operator's catalogue.
  function text(name) {
    var texts = document.getElementById("passkey-texts");
    return (texts && texts.getAttribute("data-" + name)) || "";
  }

  function clearMessage() {
    var box = document.getElementById("passkey-message");
    if (box) {
      box.parentNode.removeChild(box);
    }
  }

  // showMessage puts message above the page's forms; a page without the texts (a custom
  // layout that dropped them) shows none rather than an empty alert.
  function showMessage(message) {
    if (!message) {
      return;
    }
    var box = document.getElementById("passkey-message");
    if (!box) {
      box = document.createElement("p");
      box.id = "passkey-message";
      box.className = "alert";
      box.setAttribute("role", "alert");
      var anchor = main.querySelector("form, .secondary, nav");
      if (anchor) {
        anchor.parentNode.insertBefore(box, anchor);
      } else {
        main.appendChild(box);
      }
    }
    box.textContent = message;
  }

  function messageFor(err) {
    switch (err && err.name) {
      case "NotAllowedError":
      case "AbortError":
        return text("cancelled");
      case "InvalidStateError":
        return text("exists");
      case "NotSupportedError":
        return text("unsupported");
      case "SecurityError":
        return text("origin");
    }
    return text("failed");
  }

  // --- base64url and option decoding (fallback for browsers without the JSON helpers) ------

  function fromB64url(s) {
    s = String(s).replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) {
      s += "=";
    }
    var bin = atob(s);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      bytes[i] = bin.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toB64url(buf) {
    if (!buf) {
      return null;
    }
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function copy(o) {
    var out = {};
    for (var k in o) {
      if (Object.prototype.hasOwnProperty.call(o, k)) {
        out[k] = o[k];
      }
    }
    return out;
  }

  function decodeDescriptors(list) {
    return (list || []).map(function (c) {
      var d = copy(c);
      d.id = fromB64url(c.id);
      return d;
    });
  }

  function requestOptions(pk) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function") {
      try {
        return PublicKeyCredential.parseRequestOptionsFromJSON(pk);
      } catch (e) {
        // Fall through to the manual decoding (e.g. a member the browser rejects).
      }
    }
    var o = copy(pk);
    o.challenge = fromB64url(pk.challenge);
    if (pk.allowCredentials) {
      o.allowCredentials = decodeDescriptors(pk.allowCredentials);
    }
    return o;
  }

  function creationOptions(pk) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function") {
      try {
        return PublicKeyCredential.parseCreationOptionsFromJSON(pk);
      } catch (e) {
        // Fall through to the manual decoding.
      }
    }
    var o = copy(pk);
    o.challenge = fromB64url(pk.challenge);
    o.user = copy(pk.user);
    o.user.id = fromB64url(pk.user.id);
    if (pk.excludeCredentials) {
      o.excludeCredentials = decodeDescriptors(pk.excludeCredentials);
    }
    return o;
  }

  // credentialJSON is what credential.toJSON() gives, built by hand where it is missing.
  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") {
      try {
        return cred.toJSON();
      } catch (e) {
        // Fall through.
      }
    }
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || null,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (typeof r.getTransports === "function") {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      out.response.userHandle = toB64url(r.userHandle);
    }
    return out;
  }

  // --- capabilities (preflight) ---------------------------------------------------------

  function reportCapabilities() {
    var form = formFor("register_client_capabilities");
    if (!form) {
      return;
    }
    var available = webauthnSupported();
    var checks = [Promise.resolve(false), Promise.resolve(false)];
    if (available) {
      if (typeof PublicKeyCredential.isConditionalMediationAvailable === "function") {
        checks[0] = PublicKeyCredential.isConditionalMediationAvailable();
      }
      if (typeof PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable === "function") {
        checks[1] = PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable();
      }
    }
    var settle = function (p) {
      return p.then(function (v) { return !!v; }, function () { return false; });
    };
    Promise.all([settle(checks[0]), settle(checks[1])]).then(function (r) {
      field(form, "webauthn_available").value = String(available);
      field(form, "webauthn_conditional_mediation_available").value = String(r[0]);
      field(form, "webauthn_platform_authenticator_available").value = String(r[1]);
      form.submit();
    });
  }

  // --- ceremonies ---------------------------------------------------------------------

  function readOptions() {
    var el = document.getElementById("webauthn-options");
    if (!el) {
      return null;
    }
    try {
      var o = JSON.parse(el.getAttribute("data-options"));
      if (!o || typeof o !== "object" || !o.publicKey) {
        return null;
      }
      return { kind: el.getAttribute("data-kind"), publicKey: o.publicKey };
    } catch (e) {
      return null;
    }
  }

  // post puts the credential JSON into the form's json field and submits the form.
  function post(form, inputName, cred) {
    field(form, inputName).value = JSON.stringify(credentialJSON(cred));
    form.submit();
  }

  // ceremony runs navigator.credentials.get/create for the page's options and posts the
  // result through form; a failure leaves the page usable with a message.
  function ceremony(opts, form) {
    if (busy) {
      return;
    }
    busy = true;
    clearMessage();
    var p;
    try {
      if (opts.kind === "create") {
        p = navigator.credentials.create({ publicKey: creationOptions(opts.publicKey) });
      } else {
        p = navigator.credentials.get({ publicKey: requestOptions(opts.publicKey) });
      }
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(function (cred) {
      if (!cred) {
        throw new DOMException("No credential was returned.", "NotAllowedError");
      }
      post(form, opts.kind === "create" ? "public_key" : "assertion_response", cred);
    }).catch(function (err) {
      busy = false;
      showMessage(messageFor(err));
      var button = form.querySelector("button");
      if (button) {
        button.textContent = text("retry") || button.textContent;
        button.focus();
      }
    });
  }

  // conditional offers the user's passkeys in the e-mail field's autofill (login_init).
  function conditional(opts, form) {
    var pkc = window.PublicKeyCredential;
    if (typeof pkc.isConditionalMediationAvailable !== "function") {
      return;
    }
    pkc.isConditionalMediationAvailable().then(function (ok) {
      if (!ok) {
        return;
      }
      return navigator.credentials.get({
        publicKey: requestOptions(opts.publicKey),
        mediation: "conditional"
      }).then(function (cred) {
        if (cred && !busy) {
          busy = true;
          post(form, "assertion_response", cred);
        }
      });
    }).catch(function () {
      // Autofill is an extra: the page's other ways to sign in stay as they are.
    });
  }

  function setUp() {
    if (state === "preflight") {
      reportCapabilities();
      return;
    }
    var opts = readOptions();
    var action = opts && opts.kind === "create" ?
      "webauthn_verify_attestation_response" : "webauthn_verify_assertion_response";
    var form = opts && formFor(action);
    if (!opts || !form) {
      if (document.querySelector("form[data-needs-js]") && !webauthnSupported()) {
        showMessage(text("unsupported"));
      }
      return;
    }
    if (!webauthnSupported()) {
      showMessage(text("unsupported"));
      return;
    }
    if (state === "login_init") {
      conditional(opts, form);
      return;
    }
    // A page that exists only for the ceremony: run it at once, and keep the button for a
    // retry (its click counts as the user gesture some browsers want).
    form.hidden = false;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      ceremony(opts, form);
    });
    ceremony(opts, form);
  }

  setUp();
})();
