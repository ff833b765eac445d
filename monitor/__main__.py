from monitor.launch import main

main()
