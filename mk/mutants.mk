# Mutation testing of the provider verifiers (docs/mutation.md): mutmut (pinned in requirements-dev.txt) mutates
# layers/gateway/webhook_gateway/verifiers/ and runs tests/unit/verifiers against each mutant ([tool.mutmut] in
# pyproject.toml). tools/mutation_gate.py runs it afresh and fails on any mutant the tests miss unless it only changes
# log text or is a reviewed equivalent in tools/mutation_equivalents.toml. Results: ./mutants (report:
# mutants/mutation-report.md), mutmut's own output: mutants-run.log. Inspect one: $(PY) -m mutmut show <name>.
MUTANTS_ARGS ?=

.PHONY: mutants

mutants: $(STAMP)  ## Mutation-test the verifiers; fails on a surviving mutant that is not a reviewed equivalent
	$(PY) -m tools.mutation_gate $(MUTANTS_ARGS)
