"""The checks that keep the docs true: documented `invoke` commands and links against the code,
Mermaid diagrams parsed and rendered, module READMEs' Inputs and Outputs against the .tf files."""
