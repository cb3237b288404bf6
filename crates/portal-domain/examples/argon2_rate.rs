//! The raw Argon2id rate of this machine, as `cargo xtask bench` compares
//! login throughput with it: verifications per second on N threads for a
//! few seconds, with the service's default parameters (or those given as
//! `M_KIB T P` arguments).
//!
//! ```text
//! cargo run --release -p portal-domain --example argon2_rate -- THREADS SECONDS [M_KIB T P]
//! ```

use std::time::{Duration, Instant};

use portal_domain::hashing::{Argon2Hasher, Argon2Settings};
use portal_domain::ports::PasswordHasher;
use portal_domain::values::Password;

#[allow(clippy::print_stdout, clippy::disallowed_methods)] // a benchmark prints and times
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let threads = args.first().copied().unwrap_or(2).max(1);
    let seconds = args.get(1).copied().unwrap_or(5).max(1);
    let settings = match args[..] {
        [_, _, m, t, p] => Argon2Settings {
            memory_kib: m,
            iterations: t,
            parallelism: p,
        },
        _ => Argon2Settings::default(),
    };
    let hasher = std::sync::Arc::new(Argon2Hasher::new(settings, None)?);
    let password = Password::parse("Quartz-Harbor-71-Lantern")?;
    let hash = futures::executor::block_on(hasher.hash_password(&password))?;
    let deadline = Instant::now() + Duration::from_secs(u64::from(seconds));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (hasher, password, hash) = (hasher.clone(), password.clone(), hash.clone());
            std::thread::spawn(move || {
                let mut count = 0u64;
                while Instant::now() < deadline {
                    let _ = futures::executor::block_on(hasher.verify_password(&password, &hash));
                    count += 1;
                }
                count
            })
        })
        .collect();
    let total: u64 = workers.into_iter().map(|w| w.join().unwrap_or(0)).sum();
    let rate = total as f64 / started.elapsed().as_secs_f64();
    println!("{rate:.1}");
    Ok(())
}
