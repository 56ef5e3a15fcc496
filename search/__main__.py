from search.cli.commands import main

main()
