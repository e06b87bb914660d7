//! The built-in e-seal provider (`eseal_url = "builtin"`): seals licences
//! inside the binary with keys and a CA of its own under
//! `<data_dir>/builtin-eseal/`, so that `zhengtong demo` issues sealed,
//! verifiable licences without any external service. Its seals are the demo
//! departments' (data/demo/departments.json). Not for production: there the
//! province's e-seal service holds the seals.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde::Deserialize;
use zt_app::integrations::{Integrations, Outcome, ESEAL};
use zt_app::licence::{SealError, SealRequest, SealedDocument, Sealer};
use zt_domain::time::Clock;
use zt_licence::local_seal::{LocalSeal, LocalSealError, LocalSealer};

const DEPARTMENTS: &str = include_str!("../../../data/demo/departments.json");

#[derive(Deserialize)]
struct Dept {
    name: String,
    seal_code: Option<String>,
}

/// The seals of the demo departments.
fn seals() -> anyhow::Result<Vec<LocalSeal>> {
    let depts: Vec<Dept> = serde_json::from_str(DEPARTMENTS).context("demo departments")?;
    Ok(depts
        .into_iter()
        .filter_map(|d| {
            let code = d.seal_code?;
            Some(LocalSeal {
                seal_code: code,
                name: format!("{}电子证照专用章", d.name),
                org_name: d.name,
                org_uscc: None,
            })
        })
        .collect())
}

pub struct BuiltinSealer {
    sealer: Arc<LocalSealer>,
    trust_anchor: String,
    integrations: Arc<Integrations>,
    clock: Arc<dyn Clock>,
}

impl BuiltinSealer {
    pub fn open(
        dir: &Path,
        integrations: Arc<Integrations>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let sealer = LocalSealer::open_or_create(dir, &seals()?)
            .with_context(|| format!("the built-in e-seal keys in {}", dir.display()))?;
        Ok(Self {
            trust_anchor: sealer.ca_pem().to_owned(),
            sealer: Arc::new(sealer),
            integrations,
            clock,
        })
    }
}

#[async_trait::async_trait]
impl Sealer for BuiltinSealer {
    async fn seal(&self, r: &SealRequest<'_>) -> Result<SealedDocument, SealError> {
        let started = Instant::now();
        let now = self.clock.now();
        let sealer = self.sealer.clone();
        let (pdf, code, reason, signer) = (
            r.document.to_vec(),
            r.seal_code.to_string(),
            r.reason.to_string(),
            r.signer_name.map(str::to_string),
        );
        #[allow(clippy::cast_possible_truncation)]
        let (page, x, y) = (r.page, r.x as f32, r.y as f32);
        let out = tokio::task::spawn_blocking(move || {
            sealer.seal(
                &pdf,
                &code,
                page,
                x,
                y,
                &reason,
                signer.as_deref(),
                now.timestamp(),
            )
        })
        .await
        .map_err(|e| SealError::Unavailable(e.to_string()))?;
        let error = out.as_ref().err().map(ToString::to_string);
        let outcome = match &error {
            None => Outcome::Success,
            Some(e) => Outcome::Refused(e),
        };
        self.integrations.record(ESEAL, started.elapsed(), outcome);
        let sealed = out.map_err(|e| match e {
            LocalSealError::UnknownSeal(_) => SealError::SealNotUsable(e.to_string()),
            other => SealError::Refused(other.to_string()),
        })?;
        Ok(SealedDocument {
            pdf: sealed.pdf,
            signature_id: sealed.signature_id,
            signed_at: now
                .with_timezone(&zt_domain::time::beijing())
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            cert_serial_hex: sealed.cert_serial_hex,
        })
    }

    fn trust_anchor(&self) -> &str {
        &self.trust_anchor
    }
}
