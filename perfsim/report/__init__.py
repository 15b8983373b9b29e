"""Reports: terminal tables, output files and plotly figures."""
