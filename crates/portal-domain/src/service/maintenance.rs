//! Background housekeeping: the stale-pending purge and expiry purges.

use super::{Fault, Portal, PortalSettings, RequestContext};
use crate::audit::{AuditAction, AuditOutcome};
use crate::ports::{Clock, PasswordHasher, ProviderRoster, PurgeCounts, TokenSource, UserStore};

/// What one housekeeping run removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Pending accounts whose activation links expired long ago.
    pub stale_pending: Vec<String>,
    pub expired: PurgeCounts,
}

impl<S, R, H, C, T> Portal<S, R, H, C, T>
where
    S: UserStore + ?Sized,
    R: ProviderRoster + ?Sized,
    H: PasswordHasher + ?Sized,
    C: Clock + ?Sized,
    T: TokenSource + ?Sized,
{
    /// Frees providers and usernames held by accounts never activated:
    /// those whose newest activation link expired `pending_purge_after`
    /// ago. Also removes flows, tokens, sessions and sent emails past their
    /// retention. Run at least once a minute.
    pub async fn purge(&self) -> Result<PurgeReport, Fault> {
        let now = self.now();
        let stale_pending = self
            .store
            .purge_stale_pending(now - self.settings.pending_purge_after)
            .await?;
        for username in &stale_pending {
            self.audit(
                AuditAction::PendingAccountPurged,
                Some(username),
                RequestContext::default(),
                AuditOutcome::Success,
            )
            .await;
        }
        let sessions = self.settings.sessions;
        let expired = self
            .store
            .purge_expired(
                now,
                now - PortalSettings::FLOW_RETENTION,
                now - PortalSettings::SENT_EMAIL_RETENTION,
                now - PortalSettings::HOUR,
                sessions.idle,
                sessions.absolute,
            )
            .await?;
        Ok(PurgeReport {
            stale_pending,
            expired,
        })
    }
}
