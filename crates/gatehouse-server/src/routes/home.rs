//! `/`: a small page linking to each realm's account page and discovery document, so that the
//! first URL a person opens answers with something to click.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::oidc::http::page;
use crate::app::Gatehouse;

pub async fn home(State(g): State<Arc<Gatehouse>>) -> Response {
    let realms: Vec<minijinja::Value> = g
        .realms()
        .map(|r| {
            let brand = g.pages.brand(Some(&r.name));
            minijinja::context! {
                id => &r.name,
                display_name => &brand.display_name,
                account_url => r.oidc.endpoint("account"),
                discovery_url => r.oidc.endpoint(".well-known/openid-configuration"),
            }
        })
        .collect();
    page(
        StatusCode::OK,
        g.pages
            .render("home.html", minijinja::context! { realms, wide => false }),
    )
}
