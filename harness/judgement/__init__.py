"""Stage 3, judgement: rules that turn observations into violations, under named, versioned
policies (`harness/data/policies/`). Pure functions of what was observed and declared, so a
bundle can be judged again (`rejudge`) without touching the device."""
