//! Access scope (SPEC §4): which roster providers an account sees.

use super::{Authenticated, Fault, Portal};
use crate::account::Account;
use crate::ports::{Clock, PasswordHasher, ProviderRoster, TokenSource, UserStore};
use crate::roster::RosterEntry;
use crate::values::{LineOfBusiness, ProviderId, ProviderKind, Zip};

/// A provider as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderItem {
    pub provider_id: ProviderId,
    pub kind: ProviderKind,
    pub name: String,
    pub zips: Vec<Zip>,
    pub lines_of_business: Vec<LineOfBusiness>,
}

impl<S, R, H, C, T> Portal<S, R, H, C, T>
where
    S: UserStore + ?Sized,
    R: ProviderRoster + ?Sized,
    H: PasswordHasher + ?Sized,
    C: Clock + ?Sized,
    T: TokenSource + ?Sized,
{
    /// A practitioner sees its own record; a group its own and every active
    /// provider under its Tax ID. Read from the roster on every call, so a
    /// roster replacement shows at once.
    pub async fn visible_providers(&self, account: &Account) -> Result<Vec<ProviderItem>, Fault> {
        let provider = &account.provider;
        let entries = match provider.kind {
            ProviderKind::Practitioner => self
                .roster
                .find(&provider.tax_id, &provider.provider_id)
                .await?
                .filter(|entry| entry.is_active())
                .into_iter()
                .collect(),
            ProviderKind::Group => self.roster.active_under_tax_id(&provider.tax_id).await?,
        };
        Ok(entries.into_iter().map(ProviderItem::from).collect())
    }

    /// [`Self::visible_providers`] for a request: a practitioner's own entry
    /// was read when its session was authenticated, so only a group reads
    /// the roster again.
    pub async fn visible_providers_of(
        &self,
        auth: &Authenticated,
    ) -> Result<Vec<ProviderItem>, Fault> {
        match auth.account.provider.kind {
            ProviderKind::Practitioner => Ok(vec![ProviderItem::from(auth.provider.clone())]),
            ProviderKind::Group => self.visible_providers(&auth.account).await,
        }
    }
}

impl From<RosterEntry> for ProviderItem {
    fn from(entry: RosterEntry) -> Self {
        Self {
            kind: entry.kind(),
            name: entry.display_name(),
            provider_id: entry.provider_id,
            zips: entry.zips,
            lines_of_business: entry.lines_of_business,
        }
    }
}
