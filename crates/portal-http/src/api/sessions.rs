//! Sessions: login and logout, by bearer token or cookie.

use super::*;

/// Username and password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(required = true, value_type = String, min_length = 1)]
    username: Option<String>,
    #[schema(required = true, value_type = String, min_length = 1)]
    password: Option<String>,
}

crate::redact::debug_redacting!(LoginRequest { username } redacting { password });

/// A new session. The same token is set as the `portal_session` cookie.
#[derive(Serialize, ToSchema)]
pub struct SessionCreated {
    token: String,
    /// RFC 3339, UTC: when the session ends if no request comes.
    expires_at: String,
}

crate::redact::debug_redacting!(SessionCreated { expires_at } redacting { token });

/// The `Set-Cookie` value for a session token.
pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    let max_age = state.config.portal.sessions.absolute.whole_seconds();
    let secure = if state.config.is_https() {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}"
    );
    HeaderValue::from_str(&cookie)
        .unwrap_or_else(|_| HeaderValue::from_static("portal_session=; Max-Age=0; Path=/"))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn cleared_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.config.is_https() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("portal_session=; Max-Age=0; Path=/"))
}

#[utoipa::path(post, path = "/api/v1/sessions", request_body = LoginRequest,
    responses((status = 201, body = SessionCreated),
        (status = 202, body = MfaRequired, description = "the password is right and the account has a second factor: finish with POST /api/v1/sessions/mfa"),
        (status = 401, description = "invalid_credentials"),
        (status = 403, description = "account_not_activated, provider_inactive, account_disabled"),
        (status = 423, description = "account_locked (with locked_until)")))]
pub async fn login(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult {
    let mut errors = InvalidInput::default();
    let username = required(&mut errors, "username", &body.username);
    let raw_password = body.password.as_deref().filter(|p| !p.is_empty());
    if raw_password.is_none() {
        errors.push("password", "is required");
    }
    let (Some(username), Some(password)) = (username, raw_password) else {
        return Err(ApiError::InvalidInput(errors));
    };
    // Room in the hash pool first: a login the pool cannot take is refused
    // before it reads anything.
    let admission = match state.hash_pool.admit().await {
        Ok(admission) => admission,
        Err(overloaded) => return Err(refuse_overloaded(&state, overloaded)),
    };
    let result = match run_login(&state, admission, username, password, ctx).await {
        Ok(result) => result,
        Err(error) => return Err(error),
    };
    let outcome = match &result {
        Ok(_) => "success",
        Err(e) => e.code().as_str(),
    };
    state.metrics.login(outcome);
    if matches!(
        &result,
        Err(portal_domain::service::LoginError::AccountLocked { .. })
    ) {
        state.metrics.lockout();
    }
    let session = match result {
        Ok(session) => session,
        // The password was right: the second step makes the session.
        Err(portal_domain::service::LoginError::SecondStepRequired(challenge)) => {
            return Ok((StatusCode::ACCEPTED, Json(MfaRequired::new(&challenge))).into_response());
        }
        Err(refused) => return Err(refused.into()),
    };
    end_replaced_session(&state, &headers).await;
    Ok(session_created(&state, &session))
}

/// `201` with the new session's token, also set as the cookie.
pub(crate) fn session_created(
    state: &AppState,
    session: &portal_domain::service::LoggedIn,
) -> Response {
    let mut response = (
        StatusCode::CREATED,
        Json(SessionCreated {
            token: session.token.expose().to_owned(),
            expires_at: rfc3339(session.expires_at),
        }),
    )
        .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(state, session.token.expose()),
    );
    response
}

#[utoipa::path(delete, path = "/api/v1/sessions/current", responses((status = 204, description = "logged out"),
    (status = 401, description = "unauthenticated")))]
pub async fn logout(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    SessionAllowingAgreement(_): SessionAllowingAgreement,
) -> ApiResult {
    if let Some((token, _)) = session_token(&headers) {
        state.portal.logout(&token, ctx).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, cleared_cookie(&state));
    Ok(response)
}

/// The `503 overloaded` of a login the hash pool had no room for: it
/// waited the pool's wait (`PORTAL_HASH_WAIT`) holding no hashing or
/// database resource, so a client that ignores `Retry-After` cannot turn
/// refusals into a busy loop.
pub(crate) fn refuse_overloaded(
    state: &AppState,
    overloaded: portal_domain::ports::HashError,
) -> ApiError {
    state
        .metrics
        .login(portal_domain::codes::ErrorCode::Overloaded.as_str());
    ApiError::from(portal_domain::service::Fault::Hash(overloaded))
}

/// After a login, ends the session the client sent with it, if any: one
/// client, one session (ASVS 5.0 V7.2.4). A store failure leaves the old
/// session to its expiry, logged; the login itself stands.
pub(crate) async fn end_replaced_session(state: &AppState, headers: &HeaderMap) {
    if let Some((token, _)) = session_token(headers)
        && let Err(error) = state.portal.end_replaced_session(&token).await
    {
        tracing::warn!(%error, "could not end the session a login replaced");
    }
}

/// Runs an admitted login on a task of its own: a client that goes away
/// mid-hash does not cut it short, so the place its attempt took in the
/// lockout count is always judged or given back. The password goes as it
/// was typed: the use case parses it (a text that can never be a password
/// is a wrong one, counted and audited). An `invalid_credentials` answer
/// then waits for the failure pace (`failure_pace.rs`), so that its time
/// does not tell a known username from an unknown one.
pub(crate) async fn run_login(
    state: &AppState,
    admission: crate::hashpool::Admission,
    username: &str,
    password: &str,
    ctx: portal_domain::service::RequestContext,
) -> Result<Result<portal_domain::service::LoggedIn, portal_domain::service::LoginError>, ApiError>
{
    let portal = std::sync::Arc::clone(&state.portal);
    let username = username.to_owned();
    let password = secrecy::SecretString::from(password);
    let started = tokio::time::Instant::now();
    let result = tokio::spawn(crate::hashpool::HashPool::admitted(admission, async move {
        use secrecy::ExposeSecret as _;
        portal.login(&username, password.expose_secret(), ctx).await
    }))
    .await
    .map_err(|error| ApiError::Internal(format!("the login task failed: {error}")))?;
    if matches!(
        result,
        Err(portal_domain::service::LoginError::InvalidCredentials)
    ) {
        let floor = state.failure_pace.floor_after(started.elapsed());
        tokio::time::sleep_until(started + floor).await;
    }
    Ok(result)
}

#[cfg(test)]
mod redaction_tests {
    use super::*;

    #[test]
    fn a_new_session_never_prints_its_token() {
        let created = SessionCreated {
            token: "session-token-secret-77".to_owned(),
            expires_at: "2026-12-06T12:00:00Z".to_owned(),
        };
        let text = format!("{created:?}");
        assert!(!text.contains("session-token-secret-77"), "{text}");
        assert!(text.contains("2026-12-06T12:00:00Z"), "{text}");
    }
}
