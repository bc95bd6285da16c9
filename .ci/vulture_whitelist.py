# Names vulture (in .ci/run) reports unused in components/ stacks/ cli/ that stay, each with why.
# Decorated entry points are skipped by .ci/run's --ignore-decorators: click commands (@cli.command ...),
# pydantic validators (@field_validator, @model_validator) and check rules (@rule) are called by name.
# vulture only parses this file; `_` stands for the object each attribute belongs to.

_.model_config  # pydantic reads a model's `model_config` (stacks/config/spec.py _Strict: extra="forbid")
_.RegisterResource  # the Pulumi engine's gRPC call, answered by the offline plan's mock monitor
_.warning  # logging.Logger API: the Pulumi SDK logs through it into the plan's warnings
_.error  # logging.Logger API, likewise
_.indentless  # PyYAML passes it by keyword to Dumper.increase_indent (stacks/config/_splice.py)
_.to_json  # Plan.to_json: the plan as JSON for programs that build on the stack (tests read plans by it)
_.ClusterRef  # public API: what a Cluster or an adopted cluster hands other components (README, tests)
_.MODEL_METRICS  # the metrics a serving image exports (dashboards, promotion's PromQL; tests hold both to it)
_.EVIDENCE_OBSERVER_BASE_IMAGE  # the observer image's pinned base: test_evidence holds observer.Dockerfile to it
_.FORBIDDEN_WRITER_ACTIONS  # what the ledger's writer roles must never get: test_evidence_ledger checks the policy
_.LEFT_OUT  # upstream IAM statements deliberately not granted, with why: test_upstream_iam checks them
_.QUEUE_SENDERS_LEFT_OUT  # likewise for the Karpenter interruption queue's senders
_.GPU_ONLY_CHARTS  # charts capacity does not count (GPU nodes only): test_capacity checks every chart is known
_.installed_kinds  # the CRDs the pinned charts install: test_facts checks they are all derived
_.checkov  # CheckReport.checkov: checkov's raw answer, kept for programs reading the report
# called from the generated workflows (`python -c "from mlplatform.stacks.project.promotion import ..."`)
_.release_path
_.release_yaml
_.read_release
_.release_body
_.serving_queries
_.training_cost
_.review_issue
# components/gpu_node_pool.py is being split into a package on branch `bounds`, which removes this dead
# function; drop the entry when that lands.
_.narrowed_to_region
chart_rules  # stacks/analyses/policy.py imports it to register its @rule checks (helm-values, custom-resource-schema)
queue_rules  # likewise: registers queue-capacity
__getattr__  # PEP 562 module __getattr__: components/queueing and training load their Pulumi component on first use
# serving (components/serving, stacks/project/serving.py)
_.ignore_aliases  # yaml.SafeDumper hook: `serve render` writes plain YAML without &anchors for kubectl
# serving (issue 21): the analysis templates' API, used by ModelServing and `serve render` (branch `serving`)
_.cluster_analysis_templates
_.analysis_templates_for
_.analysis_args
# the `mlflow` runtime image's pins: tests/test_modelcar.py holds stacks/templates/serving/mlserver.Dockerfile to them
_.MLSERVER_MLFLOW
_.SERVING_BASE_IMAGE
_.SERVING_SCIKIT_LEARN
_.SERVING_MLSERVER_TAG
# the modelcar layout and MLServer settings: the runtime test and benchmarks/serving.py serve from them
_.RUNTIME_MODULE_DIR
_.mlserver_settings
_.layout
# called from the generated train-evaluate.yml (`from mlplatform.stacks.project.registration import ...`)
_.candidate_model_uri
# called from the generated train-evaluate.yml's push step (`from mlplatform.stacks.project.modelcar import ...`)
_.add_models_layer
# tarfile.TarInfo fields the modelcar layer sets (read by tarfile when it writes the header)
_.mtime
_.uname
_.gname
# monitoring (issue 22)
_.routes_to  # AlertsArgs.routes_to: which receivers a severity reaches (tests hold the README's table to it)
_.prediction_log_policy  # the served model's role attaches it (ModelServing, branch serving); tests check it
_.log_sample  # serving.models.<name>.log_sample: a pydantic field the serving runtime's environment carries
_.from_env  # PredictionLogger.from_env: what a served model's runtime calls in its container
_.emitted_names  # every name a pinned exporter emits: the metric-facts tests check rules and dashboards with it
_.setup  # stacks/monitoring/store.setup: the administrator's one-time role and schema setup (tests run it)
_.log_prediction  # components/serving/prediction_hook: the `mlplatform.prediction` entry point (pyproject.toml), called by the serving runtime
# serving.models.<name>.analysis: pydantic fields read through CanaryAnalysis.template_args (model_dump)
_.max_error_share
_.max_latency_p95_seconds
_.max_prediction_shift
_.max_ttft_p95_seconds
