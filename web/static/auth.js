// Dashboard sign-in: OpenID Connect's authorization-code flow with PKCE, in plain JS.
// The token lives in sessionStorage and goes as a bearer token on the API calls.
"use strict";
(function () {
  const TOKEN = "zuulish.token";
  const FLOW = "zuulish.oidc-flow";
  const originalFetch = window.fetch.bind(window);

  function token() { return sessionStorage.getItem(TOKEN); }

  // whether the pages' streams need a ticket (history.js, status.js): only with a token
  window.zuulishAuth = {signedIn: () => token() !== null};

  function sameOriginApi(url) {
    const target = new URL(url instanceof Request ? url.url : String(url), location.href);
    return target.origin === location.origin && target.pathname.startsWith("/api/");
  }

  // every API call of the pages carries the token, when there is one
  window.fetch = function (url, options) {
    const current = token();
    if (!current || !sameOriginApi(url)) return originalFetch(url, options);
    const opts = Object.assign({}, options || {});
    const headers = new Headers(opts.headers || {});
    headers.set("Authorization", "Bearer " + current);
    opts.headers = headers;
    return originalFetch(url, opts);
  };

  function base64url(bytes) {
    let text = "";
    new Uint8Array(bytes).forEach((b) => { text += String.fromCharCode(b); });
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function randomString() {
    return base64url(crypto.getRandomValues(new Uint8Array(32)));
  }

  async function discovery(authority) {
    const url = authority.replace(/\/$/, "") + "/.well-known/openid-configuration";
    const response = await originalFetch(url);
    if (!response.ok) throw new Error("cannot read " + url);
    return response.json();
  }

  async function signIn(realm) {
    const config = await discovery(realm.authority);
    const verifier = randomString();
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    const state = randomString();
    const redirect = location.origin + "/auth_callback";
    sessionStorage.setItem(FLOW, JSON.stringify({
      verifier, state, redirect, back: location.href, client_id: realm.client_id,
      token_endpoint: config.token_endpoint}));
    const query = new URLSearchParams({
      response_type: "code", client_id: realm.client_id, redirect_uri: redirect,
      scope: realm.scope, state, code_challenge: base64url(digest),
      code_challenge_method: "S256"});
    location.assign(config.authorization_endpoint + "?" + query.toString());
  }

  async function finishSignIn() {
    const params = new URLSearchParams(location.search);
    const flow = JSON.parse(sessionStorage.getItem(FLOW) || "null");
    sessionStorage.removeItem(FLOW);
    const out = document.getElementById("auth-status");
    if (!flow || params.get("state") !== flow.state || !params.get("code")) {
      out.textContent = "Sign-in failed: the answer does not belong to this sign-in.";
      return;
    }
    const response = await originalFetch(flow.token_endpoint, {
      method: "POST",
      headers: {"Content-Type": "application/x-www-form-urlencoded"},
      body: new URLSearchParams({
        grant_type: "authorization_code", code: params.get("code"),
        redirect_uri: flow.redirect, client_id: flow.client_id,
        code_verifier: flow.verifier})});
    const data = response.ok ? await response.json() : {};
    const issued = data.id_token || data.access_token;
    if (!issued) {
      out.textContent = "Sign-in failed: the provider gave no token.";
      return;
    }
    sessionStorage.setItem(TOKEN, issued);
    const back = new URL(flow.back, location.href);
    location.replace(back.origin === location.origin ? back.href : "/");
  }

  function uidOf(current) {
    try {
      const part = current.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part)).sub || "";
    } catch (e) {
      return "";
    }
  }

  async function showSignIn() {
    const header = document.querySelector("header");
    const tenant = header && header.dataset.tenant;
    if (!tenant) return;
    const response = await originalFetch("/api/tenant/" + encodeURIComponent(tenant) + "/info");
    if (!response.ok) return;
    const auth = (await response.json()).info.capabilities.auth;
    const realm = auth.realms[auth.default_realm];
    if (!realm) return;
    const link = document.createElement("a");
    link.className = "sign-in";
    link.href = "#";
    const current = token();
    if (current) {
      link.textContent = "Sign out " + uidOf(current);
      link.addEventListener("click", (e) => {
        e.preventDefault(); sessionStorage.removeItem(TOKEN); location.reload();
      });
    } else {
      link.textContent = "Sign in";
      link.addEventListener("click", (e) => { e.preventDefault(); signIn(realm); });
    }
    header.appendChild(link);
  }

  // a page refused for want of a token: ask again with the token, and show the answer
  async function retryRefusedPage() {
    const current = token();
    if (!current) return;
    const response = await originalFetch(location.href,
                                         {headers: {"Authorization": "Bearer " + current}});
    if (response.ok) {
      const html = await response.text();
      document.open(); document.write(html); document.close();
    } else if (response.status === 401) {
      sessionStorage.removeItem(TOKEN);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (document.getElementById("auth-callback")) { finishSignIn(); return; }
    if (document.getElementById("refused")) retryRefusedPage();
    showSignIn();
  });
})();
