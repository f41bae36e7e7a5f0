from dispatchwire.cli import main

main()
