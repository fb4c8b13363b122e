"""Where a saga runs (the embedded engine, LocalStack, AWS, Lambda containers) behind one interface, and
running executions on any of them into results."""
