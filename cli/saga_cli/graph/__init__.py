"""The state machine's graph, drawn from the ASL: Mermaid text and an SVG with each execution's path."""
