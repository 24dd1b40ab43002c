//! The Open Inference Protocol over gRPC: `inference.GRPCInferenceService`
//! (`proto/grpc_predict_v2.proto`), served on the REST port.
//!
//! The same models, admission, limits, contract checks, traces and metrics
//! as REST: a call is decoded by [`super::tensors`] like a REST request and
//! scored by the same [`Deployed`]. Inputs are one tensor per feature or
//! one `[N, F]` tensor, in typed `contents` or `raw_input_contents`; the
//! outputs come back raw when the inputs were (what Triton's clients
//! expect), typed otherwise. Errors are gRPC status codes carrying the
//! message a REST client would get: `INVALID_ARGUMENT` for the caller's
//! mistakes, `NOT_FOUND`, `RESOURCE_EXHAUSTED` (busy, too large),
//! `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `INTERNAL` when the model fails.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // A gateway mounting the service on its own router: `Service::router`
//! // already includes it.
//! # let engine = glassbox::Engine::builder().build()?;
//! let service = glassbox::serve::Service::new(engine, Default::default());
//! let grpc = glassbox::serve::grpc::server(&service);
//! # let _ = grpc;
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;

use axum::http::StatusCode;
use tonic::{Code, Request, Response, Status};

use super::oip::{self, OutputData};
use super::registry::Deployed;
use super::routes::{ApiError, Service};
use super::tensors::{self, DecodeError, Problem, Tensor, Values};
use crate::Violation;

/// The messages and service generated from the vendored proto.
#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::allow_attributes_without_reason,
    reason = "generated code"
)]
pub mod proto {
    tonic::include_proto!("inference");
}

use proto::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};
use proto::model_infer_response::InferOutputTensor;
use proto::model_metadata_response::TensorMetadata;
use proto::{
    InferTensorContents, ModelInferRequest, ModelInferResponse, ModelMetadataRequest,
    ModelMetadataResponse, ModelReadyRequest, ModelReadyResponse, ServerLiveRequest,
    ServerLiveResponse, ServerMetadataRequest, ServerMetadataResponse, ServerReadyRequest,
    ServerReadyResponse,
};

/// The path prefix of the service's methods.
pub const PATH: &str = "/inference.GRPCInferenceService/";

/// The gRPC service of `service`, its messages bounded like REST bodies
/// (`limits.max_body_bytes`, inflated or not).
pub fn server(service: &Service) -> GrpcInferenceServiceServer<Inference> {
    let max = service.registry().limits().max_body_bytes;
    // Compressed messages are accepted (tritonclient's
    // `compression_algorithm`); tonic bounds the inflated size too.
    GrpcInferenceServiceServer::new(Inference(service.clone()))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(max)
        .max_encoding_message_size(usize::MAX)
}

/// The implementation of `inference.GRPCInferenceService` over a [`Service`].
#[derive(Clone, Debug)]
pub struct Inference(Service);

/// The gRPC status of an error a REST client would get as `status`.
pub(crate) fn status(e: ApiError) -> Status {
    let code = match e.status {
        StatusCode::BAD_REQUEST => Code::InvalidArgument,
        StatusCode::NOT_FOUND => Code::NotFound,
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => Code::ResourceExhausted,
        StatusCode::SERVICE_UNAVAILABLE => Code::Unavailable,
        StatusCode::GATEWAY_TIMEOUT | StatusCode::REQUEST_TIMEOUT => Code::DeadlineExceeded,
        StatusCode::METHOD_NOT_ALLOWED => Code::Unimplemented,
        s if s.is_server_error() => Code::Internal,
        _ => Code::Unknown,
    };
    let mut status = Status::new(code, e.message);
    if let Some(s) = e.retry_after {
        status
            .metadata_mut()
            .insert("retry-after", tonic::metadata::MetadataValue::from(s));
    }
    status
}

fn version(v: &str) -> Option<&str> {
    (!v.is_empty()).then_some(v)
}

#[tonic::async_trait]
impl GrpcInferenceService for Inference {
    async fn server_live(
        &self,
        _: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    async fn server_ready(
        &self,
        _: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        Ok(Response::new(ServerReadyResponse {
            ready: self.0.is_ready(),
        }))
    }

    async fn model_ready(
        &self,
        request: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        let r = request.get_ref();
        // Not an error: a model not (yet) served is simply not ready.
        let ready = self.0.find(&r.name, version(&r.version)).is_ok();
        Ok(Response::new(ModelReadyResponse { ready }))
    }

    async fn server_metadata(
        &self,
        _: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        Ok(Response::new(ServerMetadataResponse {
            name: "glassbox".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: super::EXTENSIONS.iter().map(|e| e.to_string()).collect(),
        }))
    }

    async fn model_metadata(
        &self,
        request: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let r = request.get_ref();
        let deployed = self.0.find(&r.name, version(&r.version)).map_err(status)?;
        let m = self.0.metadata(&deployed, &r.name, version(&r.version));
        let tensors = |t: Vec<oip::MetadataTensor>| {
            t.into_iter()
                .map(|t| TensorMetadata {
                    name: t.name,
                    datatype: t.datatype.into(),
                    shape: t.shape,
                })
                .collect()
        };
        Ok(Response::new(ModelMetadataResponse {
            name: m.name,
            versions: m.versions,
            platform: m.platform.into(),
            inputs: tensors(m.inputs),
            outputs: tensors(m.outputs),
        }))
    }

    async fn model_infer(
        &self,
        request: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        let request = request.into_inner();
        let s = &self.0;
        let deployed = s
            .find(&request.model_name, version(&request.model_version))
            .map_err(status)?;
        let admission = deployed
            .admit()
            .map_err(|e| status(ApiError::call(&deployed, e, s.limits())))?;
        let info = deployed.model().info();
        let known = oip::output_names(info);
        let wanted: Vec<&str> = request.outputs.iter().map(|o| o.name.as_str()).collect();
        if let Some(bad) = wanted.iter().find(|n| !known.contains(n)) {
            return Err(Status::invalid_argument(format!(
                "model `{}` has no output `{bad}`; its outputs: {}",
                info.name,
                known.join(", ")
            )));
        }
        let raw = !request.raw_input_contents.is_empty();
        let tensors =
            input_tensors(&request).map_err(|p| refused(s, &deployed, &request, vec![p], 1))?;
        let batch = tensors::decode(info, &tensors, s.limits().max_rows).map_err(|e| match e {
            DecodeError::Problems { problems, total } => {
                refused(s, &deployed, &request, problems, total)
            }
            e => status(ApiError::decode(deployed.name(), e, s.limits())),
        })?;
        let scores = deployed
            .score_admitted(admission, batch)
            .await
            .map_err(|e| status(ApiError::call(&deployed, e, s.limits())))?;
        super::routes::unusable_answer(info, &scores).map_err(status)?;
        let outputs = oip::encode(info, scores, (!wanted.is_empty()).then_some(&wanted[..]));
        let mut response = ModelInferResponse {
            model_name: info.name.clone(),
            model_version: info.version.clone(),
            id: request.id.clone(),
            ..ModelInferResponse::default()
        };
        for output in outputs {
            let mut tensor = InferOutputTensor {
                name: output.name.into(),
                datatype: output.datatype.into(),
                shape: output.shape.iter().map(|&n| n as i64).collect(),
                ..InferOutputTensor::default()
            };
            if raw {
                response
                    .raw_output_contents
                    .push(tensors::raw_output(&output.data));
            } else {
                tensor.contents = Some(match output.data {
                    OutputData::Numbers(v) => InferTensorContents {
                        fp64_contents: v,
                        ..InferTensorContents::default()
                    },
                    OutputData::Strings(s) => InferTensorContents {
                        bytes_contents: s.iter().map(|s| s.as_bytes().to_vec()).collect(),
                        ..InferTensorContents::default()
                    },
                    OutputData::Binary => InferTensorContents::default(),
                });
            }
            response.outputs.push(tensor);
        }
        Ok(Response::new(response))
    }
}

/// A refused request: counted against the model like REST's, and its
/// problems as `INVALID_ARGUMENT`.
fn refused(
    s: &Service,
    deployed: &Arc<Deployed>,
    request: &ModelInferRequest,
    problems: Vec<Problem>,
    total: usize,
) -> Status {
    let rows = request
        .inputs
        .first()
        .and_then(|t| t.shape.first())
        .map_or(0, |&n| usize::try_from(n).unwrap_or(0));
    deployed.refuse(rows, problems.iter().map(Violation::from).collect());
    status(ApiError::decode(
        deployed.name(),
        DecodeError::Problems { problems, total },
        s.limits(),
    ))
}

/// The request's inputs as [`Tensor`]s: typed contents, or the raw bytes
/// of `raw_input_contents` (one entry per input, in order).
fn input_tensors(request: &ModelInferRequest) -> Result<Vec<Tensor<'_>>, Problem> {
    static EMPTY: InferTensorContents = InferTensorContents {
        bool_contents: Vec::new(),
        int_contents: Vec::new(),
        int64_contents: Vec::new(),
        uint_contents: Vec::new(),
        uint64_contents: Vec::new(),
        fp32_contents: Vec::new(),
        fp64_contents: Vec::new(),
        bytes_contents: Vec::new(),
    };
    let raw = &request.raw_input_contents;
    if !raw.is_empty() && raw.len() != request.inputs.len() {
        return Err(Problem {
            row: None,
            field: "(raw_input_contents)".into(),
            expected: format!(
                "one entry per input ({} inputs), or none",
                request.inputs.len()
            ),
            got: format!("{} entries", raw.len()),
        });
    }
    request
        .inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let problem = |expected: &str, got: &str| Problem {
                row: None,
                field: t.name.clone(),
                expected: expected.into(),
                got: got.into(),
            };
            if t.parameters.contains_key("shared_memory_region") {
                return Err(problem(
                    "values in contents or raw_input_contents",
                    "a shared memory region (not supported: the server reads only the request)",
                ));
            }
            let values = match (raw.get(i), &t.contents) {
                (Some(_), Some(_)) => {
                    return Err(problem(
                        "values in contents or in raw_input_contents, not both",
                        "both",
                    ));
                }
                (Some(bytes), None) => Values::Raw(bytes),
                (None, Some(contents)) => Values::Contents(contents),
                (None, None) => Values::Contents(&EMPTY),
            };
            Ok(Tensor {
                name: &t.name,
                datatype: &t.datatype,
                shape: &t.shape,
                values,
            })
        })
        .collect()
}
