from kinbase.cli import main

main()
