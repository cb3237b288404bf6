//! Extractors: JSON bodies refused exactly as SPEC §8 says, the client
//! address, and the session (bearer token or `portal_session` cookie).

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use ipnet::IpNet;
use portal_domain::service::{Authenticated, RequestContext};
use serde::de::DeserializeOwned;

use crate::problem::ApiError;
use crate::state::AppState;

/// The session cookie's name (SPEC §4).
pub const SESSION_COOKIE: &str = "portal_session";

/// A JSON object body: `415` unless `application/json`, `413` past the
/// body limit, `400 malformed_request` when it is not JSON, not an object,
/// has a member of the wrong type or an unknown member. Missing members
/// are the handler's to report (`422 invalid_input`), so raw request types
/// have only optional fields and `deny_unknown_fields`.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::BodyTooLarge
                } else {
                    ApiError::MalformedRequest("the body could not be read".to_owned())
                }
            })?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::MalformedRequest(format!("not JSON ({e})")))?;
        if !value.is_object() {
            return Err(ApiError::MalformedRequest(
                "expected a JSON object".to_owned(),
            ));
        }
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|e| ApiError::MalformedRequest(e.to_string()))
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The client's address: the socket peer, or, when the peer is a trusted
/// proxy, the rightmost `X-Forwarded-For` entry that is not itself one.
/// IPv4-mapped IPv6 addresses count as their IPv4 address, peers and
/// entries alike. An entry may carry a port (`ip:port`, `[ipv6]:port`);
/// an entry that cannot be parsed stops the walk, and the client is then
/// the trusted proxy that appended it (SPEC §8): the last hop whose word
/// is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> Self {
        let is_trusted = |addr: &IpAddr| trusted.iter().any(|net| net.contains(addr));
        let peer = peer.to_canonical();
        if !is_trusted(&peer) {
            return Self(peer);
        }
        let entries = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().ok())
            .collect::<Vec<_>>();
        // The last header line holds the nearest hops; an unreadable line
        // is an unparsable entry.
        let mut appended_by = peer;
        for line in entries.into_iter().rev() {
            let Some(line) = line else {
                return Self(appended_by);
            };
            for entry in line.rsplit(',') {
                let Some(addr) = forwarded_addr(entry) else {
                    return Self(appended_by);
                };
                if !is_trusted(&addr) {
                    return Self(addr);
                }
                appended_by = addr;
            }
        }
        // Only proxies: the peer, as if nothing were forwarded.
        Self(peer)
    }

    pub fn context(self) -> RequestContext {
        RequestContext {
            client_addr: Some(self.0),
        }
    }
}

/// One `X-Forwarded-For` entry: `ip`, `ip:port`, `[ipv6]` or
/// `[ipv6]:port`, canonical (IPv4-mapped as IPv4).
fn forwarded_addr(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse::<std::net::Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })
        .map(|addr| addr.to_canonical())
}

impl<S> FromRequestParts<S> for ClientAddr
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(addr) = parts.extensions.get::<ClientAddr>() {
            return Ok(*addr);
        }
        let state = AppState::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .ok_or_else(|| {
                ApiError::Internal("no peer address: serve with connect info".to_owned())
            })?;
        let addr = Self::resolve(peer, &parts.headers, &state.config.trusted_proxies);
        parts.extensions.insert(addr);
        Ok(addr)
    }
}

/// The request context (client address) of a handler.
#[derive(Debug, Clone, Copy)]
pub struct Ctx(pub RequestContext);

impl<S> FromRequestParts<S> for Ctx
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Self(
            ClientAddr::from_request_parts(parts, state)
                .await?
                .context(),
        ))
    }
}

/// How the request proved its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Bearer,
    Cookie,
}

/// The session token a request carries, if any: `Authorization: Bearer`
/// first, then the `portal_session` cookie.
pub fn session_token(headers: &HeaderMap) -> Option<(String, Credential)> {
    if let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    {
        return Some((token.trim().to_owned(), Credential::Bearer));
    }
    cookie(headers, SESSION_COOKIE).map(|value| (value.to_owned(), Credential::Cookie))
}

/// The value of the request cookie `name`, if sent.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A live session whose account may act: a pending newer agreement is
/// refused with `403 agreement_required`, a second factor the account must
/// still enrol (`PORTAL_MFA_REQUIRED`) with `403 mfa_enrolment_required`.
#[derive(Debug, Clone)]
pub struct Session(pub Authenticated);

/// A live session that may enrol a second factor: refused while a newer
/// agreement awaits, allowed while enrolment is required.
#[derive(Debug, Clone)]
pub struct SessionForEnrolment(pub Authenticated);

/// A live session, even while a newer agreement awaits acceptance: for
/// accepting it and for logging out.
#[derive(Debug, Clone)]
pub struct SessionAllowingAgreement(pub Authenticated);

async fn authenticate<S>(parts: &mut Parts, state: &S) -> Result<Authenticated, ApiError>
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    let state = AppState::from_ref(state);
    let (token, credential) = session_token(&parts.headers).ok_or(ApiError::Unauthenticated)?;
    if credential == Credential::Cookie
        && !is_safe(&parts.method)
        && !same_origin(&parts.headers, &state)
    {
        return Err(ApiError::CsrfRejected);
    }
    Ok(state.portal.authenticate(&token).await?)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A cookie-authenticated write must come from the portal's own origin
/// (`Origin`, else `Referer`); browsers send one of them on cross-site
/// POSTs, so a forged form is refused.
pub fn same_origin(headers: &HeaderMap, state: &AppState) -> bool {
    let expected = state.config.public_url.origin().ascii_serialization();
    let from_header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(origin) = from_header(header::ORIGIN) {
        return origin == expected;
    }
    from_header(header::REFERER)
        .and_then(|referer| url::Url::parse(&referer).ok())
        .is_some_and(|url| url.origin().ascii_serialization() == expected)
}

impl<S> FromRequestParts<S> for Session
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let auth = authenticate(parts, state).await?;
        if auth.agreement_required {
            return Err(ApiError::AgreementRequired);
        }
        if auth.mfa_enrolment_required {
            return Err(ApiError::MfaEnrolmentRequired);
        }
        Ok(Self(auth))
    }
}

impl<S> FromRequestParts<S> for SessionForEnrolment
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let auth = authenticate(parts, state).await?;
        if auth.agreement_required {
            return Err(ApiError::AgreementRequired);
        }
        Ok(Self(auth))
    }
}

impl<S> FromRequestParts<S> for SessionAllowingAgreement
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Self(authenticate(parts, state).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let forged = headers(&[("x-forwarded-for", "203.0.113.9")]);
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(ClientAddr::resolve(stranger, &forged, &trusted).0, stranger);
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let chain = headers(&[("x-forwarded-for", "192.0.2.1, 203.0.113.9, 10.9.9.9")]);
        // The rightmost entry that is not a trusted proxy: the proxy's client.
        assert_eq!(
            ClientAddr::resolve(proxy, &chain, &trusted).0,
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            ClientAddr::resolve(proxy, &HeaderMap::new(), &trusted).0,
            proxy
        );
    }

    #[test]
    fn forwarded_entries_with_ports_and_mapped_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = ip("10.1.2.3");
        for (header, client) in [
            ("203.0.113.9:4711", "203.0.113.9"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("::ffff:203.0.113.9", "203.0.113.9"),
            ("192.0.2.1, 203.0.113.9:4711, 10.9.9.9:80", "203.0.113.9"),
        ] {
            let forwarded = headers(&[("x-forwarded-for", header)]);
            assert_eq!(
                ClientAddr::resolve(proxy, &forwarded, &trusted).0,
                ip(client),
                "{header}"
            );
        }
        // A mapped peer is its IPv4 address: trusted, and keyed as IPv4.
        let forwarded = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            ClientAddr::resolve(ip("::ffff:10.1.2.3"), &forwarded, &trusted).0,
            ip("203.0.113.9")
        );
        assert_eq!(
            ClientAddr::resolve(ip("::ffff:198.51.100.7"), &forwarded, &trusted).0,
            ip("198.51.100.7")
        );
    }

    #[test]
    fn an_unparsable_entry_stops_the_walk_at_the_proxy_that_appended_it() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = ip("10.1.2.3");
        for (header, client) in [
            // The peer appended the garbage: the peer is the client.
            ("203.0.113.9, garbage", "10.1.2.3"),
            // 10.9.9.9 (trusted) appended it: that proxy is the client, and
            // the forged 203.0.113.9 on its left is never believed.
            ("203.0.113.9, unknown, 10.9.9.9", "10.9.9.9"),
            ("203.0.113.9, 300.1.1.1, 10.9.9.9:80", "10.9.9.9"),
            ("203.0.113.9, , 10.9.9.9", "10.9.9.9"),
        ] {
            let forwarded = headers(&[("x-forwarded-for", header)]);
            assert_eq!(
                ClientAddr::resolve(proxy, &forwarded, &trusted).0,
                ip(client),
                "{header}"
            );
        }
    }

    #[test]
    fn bearer_wins_over_the_cookie() {
        let both = headers(&[
            ("authorization", "Bearer abc"),
            ("cookie", "x=1; portal_session=def"),
        ]);
        assert_eq!(
            session_token(&both),
            Some(("abc".to_owned(), Credential::Bearer))
        );
        let cookie = headers(&[("cookie", "x=1; portal_session=def")]);
        assert_eq!(
            session_token(&cookie),
            Some(("def".to_owned(), Credential::Cookie))
        );
        assert_eq!(session_token(&HeaderMap::new()), None);
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(&headers(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        assert!(!is_json(&headers(&[("content-type", "text/plain")])));
        assert!(!is_json(&HeaderMap::new()));
    }
}
