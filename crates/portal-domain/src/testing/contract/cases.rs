//! The macros that turn the contract suite into tests: one test per case,
//! grouped by port ([`port_contract_tests!`](crate::port_contract_tests)).

/// Generates one test per contract case.
///
/// - `port_contract_tests!(make)`: `#[tokio::test]`s, where `async fn make()`
///   returns a fresh [`Subject`](crate::testing::contract::Subject).
/// - `port_contract_tests!(sqlx_test: "crate::MIGRATOR", PgPool, make)`:
///   `#[sqlx::test]`s, each on a database of its own, made and migrated by
///   sqlx; `async fn make(pool)` turns the pool into a [`Subject`](crate::testing::contract::Subject).
#[macro_export]
macro_rules! port_contract_tests {
    ($make:path) => {
        $crate::__contract_cases!($crate::__contract_tokio_case, ($make));
    };
    (sqlx_test: $migrator:literal, $pool:ty, $make:path) => {
        $crate::__contract_cases!($crate::__contract_sqlx_case, ($migrator, $pool, $make));
    };
}

/// The list of cases by port, each port's handed one by one to `$each`
/// inside a module named for the port.
#[doc(hidden)]
#[macro_export]
macro_rules! __contract_cases {
    ($each:path, $args:tt) => {
        $crate::__contract_cases!(@ports $each, $args, {
            registrations: [
                flows_round_trip_with_compare_and_set,
            ],
            accounts: [
                accounts_are_found_case_insensitively,
                usernames_are_unique_case_insensitively,
                one_account_per_registrant,
                a_pending_account_is_replaced_by_a_new_registration,
                a_replacement_may_keep_the_username_and_a_refused_one_replaces_nothing,
                activated_and_disabled_accounts_are_not_replaced,
                a_stale_flow_creates_nothing,
                a_finished_flow_is_checked_before_the_username,
                account_creation_stores_token_and_queues_email,
                parallel_registrations_create_one_account,
                agreement_acceptance_is_recorded,
                disabling_revokes_sessions_and_unlock_clears,
            ],
            login_attempts: [
                failures_count_lock_and_restart,
                parallel_failures_count_exactly_and_lock_once,
                login_success_clears_lock_and_stores_session,
                login_success_after_a_lock_ended_clears_it,
                account_reads_for_logins_and_sessions_carry_the_current_provider,
                a_login_verified_before_a_reset_writes_nothing,
                a_right_password_racing_wrong_ones_never_lifts_the_lock,
                an_attempt_not_judged_gives_its_place_back,
                a_reservation_from_a_stale_read_counts_from_the_stored_state,
                a_first_place_taken_with_the_read_counts_once,
            ],
            credentials: [
                issued_tokens_find_their_account_after_use,
                newer_tokens_supersede_older_and_emails_are_capped,
                activation_tokens_redeem_once,
                parallel_redemptions_succeed_once,
                password_reset_changes_everything_at_once,
                reset_links_are_spent_by_the_tenth_refusal,
                parallel_reset_refusals_spend_the_link_once,
                password_change_keeps_only_the_current_session,
                a_password_change_after_a_reset_or_a_logout_writes_nothing,
                a_purged_account_is_sent_no_link,
            ],
            sessions: [
                sessions_touch_forward_and_revoke,
            ],
            account_settings: [
                an_email_change_link_changes_the_email_once,
                a_newer_email_change_link_supersedes_and_links_expire,
                email_change_links_count_toward_the_email_cap,
                settings_changes_after_a_reset_a_logout_or_a_lock_write_nothing,
                a_security_question_change_writes_its_notice_with_it,
                parallel_email_change_redemptions_succeed_once,
            ],
            second_factors: [
                totp_is_confirmed_once_with_its_codes_notice_and_event,
                totp_steps_are_accepted_once_and_only_forward,
                recovery_codes_are_used_once_also_racing,
                removal_takes_every_factor_and_challenge,
                challenges_are_spent_once_and_expire,
                a_challenge_is_issued_only_while_unlocked_and_current,
            ],
            passkeys: [
                passkeys_are_added_once_renamed_and_removed_by_their_account,
                passkey_uses_are_recorded_with_the_updated_credential,
                ceremonies_are_taken_once_by_kind_while_live,
                ceremonies_are_capped_per_account_and_expired_ones_dropped,
                racing_finishes_take_a_ceremony_once,
                a_reset_removes_passkeys_and_their_ceremonies,
            ],
            identity_checks: [
                proofing_mismatches_are_counted_in_the_window,
                parallel_proofing_mismatches_stop_at_the_limit,
                support_failures_are_counted_in_the_window,
                parallel_support_checks_stop_at_the_limit,
            ],
            housekeeping: [
                stale_pending_accounts_are_purged,
                a_purged_accounts_id_is_not_given_out_again,
                expired_things_are_purged,
            ],
            audit_log: [
                audit_events_are_listed_oldest_first,
                audit_pages_cover_the_trail_once_in_order,
                changes_store_their_audit_events_with_them,
            ],
            outbox: [
                outbox_claims_lease_retry_and_finish,
                parallel_claimers_get_each_email_once,
                stale_claims_mark_nothing,
                claims_carry_link_expiry_and_account,
                unreadable_rows_are_claimed_alone,
                unknown_kinds_are_left_queued,
            ],
            roster: [
                roster_finds_and_scopes,
                roster_import_is_idempotent_replaces_and_dry_runs,
                roster_files_import_all_or_nothing,
                roster_imports_100_000_rows,
                a_roster_file_failing_after_its_first_batches_writes_nothing,
            ],
        });
    };
    (@ports $each:path, $args:tt, { $($port:ident: [$($case:ident),* $(,)?]),* $(,)? }) => {
        $(
            #[doc = concat!("The contract cases of the `", stringify!($port), "` port.")]
            mod $port {
                use super::*;
                $($each!($args, $case);)*
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_tokio_case {
    (($make:path), $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $case() {
            let subject = $make().await;
            $crate::testing::contract::$case(&subject).await;
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_sqlx_case {
    (($migrator:literal, $pool:ty, $make:path), $case:ident) => {
        #[sqlx::test(migrator = $migrator)]
        async fn $case(pool: $pool) {
            let subject = $make(pool).await;
            $crate::testing::contract::$case(&subject).await;
        }
    };
}
