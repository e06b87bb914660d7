//! What a virtual user does.

use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Map, Value};

use crate::stats::{Outcome, Stats};
use crate::Args;

pub struct Item {
    pub code: String,
    pub person: bool,
    pub organisation: bool,
    pub form: Map<String, Value>,
    pub materials: Vec<String>,
}

pub struct Catalogue {
    pub items: Vec<Item>,
}

/// A valid GB 11643 number for generated forms.
pub fn id_number() -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const C: &[u8; 11] = b"10X98765432";
    let body = "43990219850317002";
    let sum: u32 = body
        .bytes()
        .zip(W)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    format!("{body}{}", C[(sum % 11) as usize] as char)
}

fn value_for(field: &Value) -> Value {
    let s = |v: &str| Value::String(v.into());
    match field["type"].as_str().unwrap_or("text") {
        "textarea" => s("压力测试说明"),
        "number" => s("3"),
        "amount" => s("1000.00"),
        "date" => s("2026-12-01"),
        "select" => field["options"][0].clone(),
        "phone" => s("13800138000"),
        "id_number" => s(&id_number()),
        "uscc" => s("91439902MA4L8E5K08"),
        "region" => s("370202"),
        _ => s("压测申请人"),
    }
}

impl Catalogue {
    pub async fn load(base: &str) -> anyhow::Result<Self> {
        let c = reqwest::Client::new();
        let list: Value = c
            .get(format!("{base}/api/v1/items"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut items = Vec::new();
        for it in list["items"].as_array().into_iter().flatten() {
            let code = it["code"].as_str().unwrap_or_default().to_string();
            let d: Value = c
                .get(format!("{base}/api/v1/items/{code}"))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            if d["min_real_name_level"].as_str().is_some_and(|l| l > "L2") {
                continue;
            }
            let kinds = d["applicant_kinds"].as_array().cloned().unwrap_or_default();
            let form = d["form_fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["required"].as_bool().unwrap_or(false))
                .map(|f| {
                    (
                        f["key"].as_str().unwrap_or_default().to_string(),
                        value_for(f),
                    )
                })
                .collect();
            let materials = d["materials"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["required"].as_bool().unwrap_or(false))
                .map(|m| m["code"].as_str().unwrap_or_default().to_string())
                .collect();
            items.push(Item {
                code,
                person: kinds.contains(&json!("person")),
                organisation: kinds.contains(&json!("organisation")),
                form,
                materials,
            });
        }
        anyhow::ensure!(!items.is_empty(), "the catalogue is empty");
        Ok(Self { items })
    }
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n";

struct User<'a> {
    base: &'a str,
    client: reqwest::Client,
    csrf: String,
    stats: &'a Stats,
    measuring: bool,
}

impl User<'_> {
    async fn send(
        &self,
        kind: &'static str,
        req: reqwest::RequestBuilder,
        contended_ok: bool,
    ) -> Option<Value> {
        let t0 = Instant::now();
        let res = req.header("x-csrf-token", &self.csrf).send().await;
        let (status, body) = match res {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.text().await.unwrap_or_default())
            }
            Err(e) => (0, e.to_string()),
        };
        let took = t0.elapsed();
        let outcome = match status {
            200..=299 => Outcome::Ok,
            403 | 409 if contended_ok => Outcome::Contended,
            _ => Outcome::Error(body.clone()),
        };
        let ok = matches!(outcome, Outcome::Ok);
        if self.measuring {
            self.stats.record(kind, status, took, outcome);
        }
        if ok {
            Some(serde_json::from_str(&body).unwrap_or(Value::Null))
        } else {
            None
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn login(&mut self, username: &str, password: &str) -> bool {
        let req = self
            .client
            .post(self.url("/api/v1/session"))
            .json(&json!({"username": username, "password": password}));
        match self.send("login", req, false).await {
            Some(v) => {
                self.csrf = v["csrf_token"].as_str().unwrap_or_default().to_string();
                true
            }
            None => false,
        }
    }
}

pub async fn run_user(
    i: usize,
    args: &Args,
    cat: &Catalogue,
    stats: &Stats,
    measure_from: Instant,
    deadline: Instant,
) {
    let staff = args.staff_every > 0 && i.is_multiple_of(args.staff_every);
    let username = if staff {
        ["clerk", "reviewer", "approver"][(i / args.staff_every) % 3]
    } else if i.is_multiple_of(3) {
        "agent"
    } else {
        "citizen"
    };
    let Ok(client) = reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
    else {
        return;
    };
    let mut u = User {
        base: &args.base_url,
        client,
        csrf: String::new(),
        stats,
        measuring: Instant::now() >= measure_from,
    };
    // Logins are measured too: they happen during ramp-up and again on expiry.
    u.measuring = true;
    if !u.login(username, &args.password).await {
        return;
    }
    let mut my_cases: Vec<String> = Vec::new();
    let items: Vec<&Item> = cat
        .items
        .iter()
        .filter(|it| {
            if username == "agent" {
                it.organisation
            } else {
                it.person
            }
        })
        .collect();
    while Instant::now() < deadline {
        u.measuring = Instant::now() >= measure_from;
        let think = rand::thread_rng().gen_range(0..=args.think_ms);
        tokio::time::sleep(Duration::from_millis(think)).await;
        if staff {
            staff_round(&u, username).await;
            continue;
        }
        let roll: u32 = rand::thread_rng().gen_range(0..100);
        match roll {
            0..=29 => {
                let q = if roll.is_multiple_of(2) {
                    "?q=%E8%AE%B8%E5%8F%AF"
                } else {
                    ""
                };
                u.send(
                    "items_list",
                    u.client.get(u.url(&format!("/api/v1/items{q}"))),
                    false,
                )
                .await;
            }
            30..=54 => {
                let code = &cat.items[roll as usize % cat.items.len()].code;
                u.send(
                    "item_guide",
                    u.client.get(u.url(&format!("/api/v1/items/{code}"))),
                    false,
                )
                .await;
            }
            55..=69 => {
                u.send(
                    "my_cases",
                    u.client.get(u.url("/api/v1/cases?limit=20")),
                    false,
                )
                .await;
            }
            70..=89 => {
                if let Some(no) = my_cases.last() {
                    u.send(
                        "case_status",
                        u.client.get(u.url(&format!("/api/v1/cases/{no}"))),
                        false,
                    )
                    .await;
                } else {
                    u.send(
                        "my_cases",
                        u.client.get(u.url("/api/v1/cases?limit=20")),
                        false,
                    )
                    .await;
                }
            }
            _ => {
                if items.is_empty() {
                    continue;
                }
                let it = items[roll as usize % items.len()];
                if let Some(no) = file_case(&u, it).await {
                    my_cases.push(no);
                }
            }
        }
    }
}

async fn file_case(u: &User<'_>, it: &Item) -> Option<String> {
    let created = u
        .send(
            "case_create",
            u.client
                .post(u.url("/api/v1/cases"))
                .json(&json!({"item_code": it.code, "form": it.form})),
            false,
        )
        .await?;
    let no = created["case_no"].as_str()?.to_string();
    for m in &it.materials {
        let form = reqwest::multipart::Form::new()
            .text("material_code", m.clone())
            .part(
                "file",
                reqwest::multipart::Part::bytes(PDF.to_vec()).file_name("材料.pdf"),
            );
        u.send(
            "upload",
            u.client
                .post(u.url(&format!("/api/v1/cases/{no}/materials")))
                .multipart(form),
            false,
        )
        .await?;
    }
    u.send(
        "case_submit",
        u.client
            .post(u.url(&format!("/api/v1/cases/{no}/submit")))
            .json(&json!({})),
        false,
    )
    .await?;
    Some(no)
}

async fn staff_round(u: &User<'_>, role: &str) {
    let status = if role == "clerk" {
        "submitted"
    } else {
        "in_review"
    };
    let Some(list) = u
        .send(
            "staff_queue",
            u.client
                .get(u.url(&format!("/api/v1/cases?status={status}&limit=20"))),
            false,
        )
        .await
    else {
        return;
    };
    let cases = list["cases"].as_array().cloned().unwrap_or_default();
    if cases.is_empty() {
        return;
    }
    let pick = &cases[rand::thread_rng().gen_range(0..cases.len())];
    let no = pick["case_no"].as_str().unwrap_or_default();
    let Some(detail) = u
        .send(
            "staff_case",
            u.client.get(u.url(&format!("/api/v1/cases/{no}"))),
            false,
        )
        .await
    else {
        return;
    };
    let available = detail["available_actions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let action = ["accept", "approve_step"]
        .into_iter()
        .find(|a| available.contains(&json!(a)));
    if let Some(action) = action {
        let body = json!({"action": action, "opinion": "压测：同意", "version": detail["version"]});
        // Several staff race for the same cases: 409 (someone was faster) is expected.
        u.send(
            "staff_action",
            u.client
                .post(u.url(&format!("/api/v1/cases/{no}/actions")))
                .json(&body),
            true,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_id_number_is_valid() {
        let n = super::id_number();
        assert_eq!(n, "439902198503170025");
    }
}
