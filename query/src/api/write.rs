//! The remote-write 1.0 receiver (`POST /api/v1/write`): a snappy (block format) compressed
//! protobuf `WriteRequest`, appended through [`Appendable`] in one batch.
//!
//! Answers as Prometheus' receiver does: 204 on success; 400 for an undecodable body or for
//! samples the store rejects (out of order, too old, conflicting duplicate), which tells a
//! sender not to retry; 500 for store failures. Exemplars are ignored; native histograms are
//! refused with 400 because the store keeps floats only.
//!
//! Cost: one decompression buffer and one decoded request per call; the decompressed size is
//! capped at [`MAX_DECODED_BYTES`].

use crate::error::Error;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lookout_store::{Appendable, Labels};
use prost::Message;
use std::sync::Arc;

/// Largest accepted request body after decompression.
pub const MAX_DECODED_BYTES: usize = 64 << 20;
/// Largest accepted compressed body.
pub const MAX_BODY_BYTES: usize = 32 << 20;

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries` (exemplars, field 3, are skipped by the decoder).
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histograms: only counted, to refuse them.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub histograms: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// Encodes a request as a sender does (protobuf, then snappy block format); for tests and
/// tools that push data.
pub fn encode_request(req: &WriteRequest) -> Vec<u8> {
    let raw = req.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

/// Decodes a snappy-compressed `WriteRequest`.
pub fn decode_request(body: &[u8]) -> crate::Result<WriteRequest> {
    let len =
        snap::raw::decompress_len(body).map_err(|e| Error::BadData(format!("snappy: {e}")))?;
    if len > MAX_DECODED_BYTES {
        return Err(Error::BadData(format!(
            "decompressed request of {len} bytes exceeds {MAX_DECODED_BYTES}"
        )));
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| Error::BadData(format!("snappy: {e}")))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| Error::BadData(format!("protobuf: {e}")))
}

/// Appends a decoded request; returns the number of samples stored.
pub fn append_request(w: &dyn Appendable, req: &WriteRequest) -> crate::Result<u64> {
    if req.timeseries.iter().any(|t| !t.histograms.is_empty()) {
        return Err(Error::BadData("native histograms are not supported".into()));
    }
    let mut app = w.appender();
    for ts in &req.timeseries {
        if ts.labels.iter().any(|l| l.name.is_empty()) {
            app.rollback();
            return Err(Error::BadData("invalid labels: empty label name".into()));
        }
        let labels =
            Labels::from_pairs(ts.labels.iter().map(|l| (l.name.clone(), l.value.clone())));
        if labels.is_empty() {
            app.rollback();
            return Err(Error::BadData("invalid labels: empty label set".into()));
        }
        let mut r = 0;
        for s in &ts.samples {
            match app.append(r, &labels, s.timestamp, s.value) {
                Ok(nr) => r = nr,
                Err(e) => {
                    app.rollback();
                    return Err(Error::BadData(format!("{e} (series {labels})")));
                }
            }
        }
    }
    let st = app.commit()?;
    let rejected = st.out_of_order + st.too_old + st.duplicate_conflicts;
    if rejected > 0 {
        return Err(Error::BadData(format!(
            "{rejected} samples rejected ({} out of order, {} out of bounds, {} duplicate sample for timestamp)",
            st.out_of_order, st.too_old, st.duplicate_conflicts
        )));
    }
    Ok(st.appended)
}

/// The `/api/v1/write` route over `writer`; merge it into the API router.
pub fn write_router(writer: Arc<dyn Appendable>) -> Router {
    Router::new()
        .route("/api/v1/write", post(write))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(writer)
}

async fn write(State(w): State<Arc<dyn Appendable>>, body: Bytes) -> Response {
    let r = tokio::task::spawn_blocking(move || {
        decode_request(&body).and_then(|req| append_request(&*w, &req))
    })
    .await;
    match r {
        Ok(Ok(_)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e @ Error::BadData(_))) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_store::{Head, Matcher, Querier};

    #[test]
    fn round_trip_into_head() {
        let req = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    Label {
                        name: "__name__".into(),
                        value: "x".into(),
                    },
                    Label {
                        name: "job".into(),
                        value: "a".into(),
                    },
                ],
                samples: vec![
                    Sample {
                        value: 1.5,
                        timestamp: 1000,
                    },
                    Sample {
                        value: 2.5,
                        timestamp: 2000,
                    },
                ],
                histograms: vec![],
            }],
        };
        let body = encode_request(&req);
        let dec = decode_request(&body).unwrap();
        assert_eq!(dec, req);
        let head = Head::new();
        assert_eq!(append_request(&head, &dec).unwrap(), 2);
        let got = head
            .select(&[Matcher::equal("__name__", "x")], 0, 3000)
            .unwrap();
        assert_eq!(got[0].samples, vec![(1000, 1.5), (2000, 2.5)]);
        assert!(decode_request(b"not snappy").is_err());
    }
}
