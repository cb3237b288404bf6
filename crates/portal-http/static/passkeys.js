// Passkeys (WebAuthn) for the account page and the login's second step:
// the one script of the portal. Every other page works without it; the
// second step still takes a code with scripts off.
//
// It only moves JSON between the API and navigator.credentials: the
// options come from POST /api/v1/me/passkeys/registrations or
// POST /api/v1/sessions/mfa/passkey, binary members in base64url; the
// credential goes back as JSON to POST /api/v1/me/passkeys or
// POST /api/v1/sessions/mfa. The server's WebAuthn library checks it.
"use strict";

(function () {
  function fromBase64url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function credentialIds(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: fromBase64url(c.id) });
    });
  }

  async function api(path, body) {
    var response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    var answer = null;
    try { answer = await response.json(); } catch (e) { answer = null; }
    if (!response.ok) {
      throw new Error((answer && answer.detail) || "The request failed. Please try again.");
    }
    return answer;
  }

  function show(status, message) {
    if (status) {
      status.textContent = message;
      status.hidden = false;
    }
  }

  async function register(form, status) {
    var started = await api("/api/v1/me/passkeys/registrations", {
      current_password: form.elements.current_password.value,
    });
    var options = started.options.publicKey;
    options.challenge = fromBase64url(options.challenge);
    options.user.id = fromBase64url(options.user.id);
    options.excludeCredentials = credentialIds(options.excludeCredentials);
    var credential = await navigator.credentials.create({ publicKey: options });
    await api("/api/v1/me/passkeys", {
      ceremony_id: started.ceremony_id,
      name: form.elements.name.value,
      credential: {
        id: credential.id,
        rawId: toBase64url(credential.rawId),
        type: credential.type,
        response: {
          attestationObject: toBase64url(credential.response.attestationObject),
          clientDataJSON: toBase64url(credential.response.clientDataJSON),
        },
        extensions: credential.getClientExtensionResults(),
      },
    });
    show(status, "Your passkey was added.");
    window.location.assign("/");
  }

  async function login(button, status) {
    var challenge = button.getAttribute("data-challenge");
    var started = await api("/api/v1/sessions/mfa/passkey", { challenge_id: challenge });
    var options = started.options.publicKey;
    options.challenge = fromBase64url(options.challenge);
    options.allowCredentials = credentialIds(options.allowCredentials);
    var assertion = await navigator.credentials.get({ publicKey: options });
    await api("/api/v1/sessions/mfa", {
      challenge_id: challenge,
      credential: {
        id: assertion.id,
        rawId: toBase64url(assertion.rawId),
        type: assertion.type,
        response: {
          authenticatorData: toBase64url(assertion.response.authenticatorData),
          clientDataJSON: toBase64url(assertion.response.clientDataJSON),
          signature: toBase64url(assertion.response.signature),
          userHandle: toBase64url(assertion.response.userHandle),
        },
        extensions: assertion.getClientExtensionResults(),
      },
    });
    window.location.assign("/");
  }

  function failed(status, error) {
    show(status, error && error.name === "NotAllowedError"
      ? "The passkey was not used (cancelled or timed out). Please try again."
      : (error && error.message) || "The passkey did not work. Please try again.");
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.PublicKeyCredential) return;
    var status = document.getElementById("passkey-status");
    var form = document.getElementById("passkey-add");
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        register(form, status).catch(function (error) { failed(status, error); });
      });
    }
    var button = document.getElementById("passkey-login");
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        login(button, status).catch(function (error) { failed(status, error); });
      });
    }
  });
})();
