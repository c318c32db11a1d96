from kinbase_flex.cli import main

main()
