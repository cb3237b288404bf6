//! Failure paths of registration: the provider's details, the agreement and
//! the account step.

use super::*;

mod account;
mod agreement;
mod start;

// ---------------------------------------------------------------------------
// Registration flows for steps 2 and 3
// ---------------------------------------------------------------------------

const TTL: Duration = Duration::minutes(30);

fn flow_id() -> RegistrationId {
    RegistrationId::from_random_bytes([0xab; 16])
}

fn flow_key() -> String {
    flow_id().as_str().to_owned()
}

/// A flow at step 2 (provider verified) that expires at `expires_at`.
fn verified_flow(expires_at: OffsetDateTime) -> RegistrationFlow {
    RegistrationFlow::start(flow_id(), sample::jane_doe(), expires_at - TTL, TTL)
}

/// A flow at step 3 (agreement accepted) that expires at `expires_at`.
fn accepted_flow(expires_at: OffsetDateTime) -> RegistrationFlow {
    let accepted_at = expires_at - TTL;
    valid(
        verified_flow(accepted_at + Duration::minutes(1)).accept_agreement(
            current_acceptance(accepted_at),
            accepted_at,
            TTL,
        ),
    )
}

pub(super) fn finished_flow() -> RegistrationFlow {
    let finished_at = NOW - Duration::hours(2);
    valid(accepted_flow(finished_at + Duration::minutes(5)).finish(finished_at)).0
}

fn load(fx: &mut Fx, flow: RegistrationFlow) {
    fx.store
        .expect_load_flow()
        .withf(|id| *id == flow_id())
        .return_const(Ok(Some(flow)));
}
