//! The page, built into the binary: no CDN and no internet in a command center.

use axum::{http::header, response::IntoResponse};

/// `GET /`
pub async fn index() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], include_str!("../../assets/index.html"))
}

/// `GET /app.js`
pub async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../assets/app.js"))
}

/// `GET /app.css`
pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../../assets/app.css"))
}

/// `GET /i18n.js`: the labels, Chinese and English.
pub async fn labels() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../../assets/i18n.js"))
}
